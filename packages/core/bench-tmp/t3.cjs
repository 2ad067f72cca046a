const bin = require('node-gyp-build')(require('path').join(__dirname, '..', 'native'))
const maps = () => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('/dev/shm/ipc-zz')).length
const { readFileSync } = require('fs')
let m = bin.shmCreate('/ipc-zztest', 8192, 0o600)
const v = new Int32Array(m.buffer)
v[0] = 42
console.log('maps', maps())
const clone = structuredClone(m.buffer, { transfer: [m.buffer] })
console.log('detached len', v.length, m.buffer.byteLength, 'clone', new Int32Array(clone)[0])
console.log('maps after transfer', maps())
let c2 = clone; c2 = null
m = null
global.gc()
setImmediate(() => { console.log('maps after gc', maps()); bin.shmUnlink('/ipc-zztest') })
