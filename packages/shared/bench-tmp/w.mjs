import { SharedValue } from '@ipc/shared'
const v = new SharedValue('int32', 0)
for (let i = 0; i < 10; i++) v.withLockSync(() => { v.value += 1 })
console.log(v.value)
