import { Segment } from '@ipc/core/internal'
const s = Segment.create({ kind: 'holder', version: 1 }, 64)
console.log('READY'); setTimeout(() => s.close(), 8000)
