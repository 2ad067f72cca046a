import { inspect } from 'node:util'
import { TRANSFER } from '@ipc/core/internal'
import { describeWithRedis, uniqueName } from '@ipc/test-utils'
import { describe, expect, it } from 'vitest'
import { ConnectionError, CorruptError, SharedArray, SharedValue } from './index.js'

describe('Redis SharedValue and SharedArray without a server', () => {
  it('reject a bad type, value, url, lease or name before connecting', () => {
    expect(() => new SharedValue('int33' as never)).toThrow(TypeError)
    expect(() => new SharedValue('int32', 1.5)).toThrow(TypeError)
    expect(() => new SharedValue('int8', 128)).toThrow(RangeError)
    expect(() => new SharedValue('int64', 1 as never)).toThrow(TypeError)
    expect(() => new SharedValue('int32', 0, { url: 'http://x' })).toThrow(TypeError)
    expect(() => new SharedValue('int32', 0, { lease: 5 })).toThrow(RangeError)
    expect(() => new SharedValue('int32', 0, { name: 'a{b}' })).toThrow(TypeError)
    expect(() => new SharedValue('int32', 0, { lock: {} as never })).toThrow(TypeError)
    expect(() => new SharedArray('int32', -1)).toThrow(RangeError)
    expect(() => new SharedArray('int32', 1_048_577)).toThrow(RangeError)
    expect(() => new SharedArray('uint8', [1, 256])).toThrow(/index 1/)
  })

  it('reject an option name they do not know, naming the one meant', async () => {
    expect(() => new SharedValue('int32', 0, { locks: false } as never)).toThrow(/Did you mean "lock"/)
    await expect(
      SharedValue.open('v', 'int32', { url: 'redis://127.0.0.1:1', create: { intial: 1 } } as never),
    ).rejects.toThrow(/Unknown option "intial" in the "create" option\. Did you mean "initial"\?/)
    await expect(SharedArray.open('a', 'int32', { url: 'redis://127.0.0.1:1', leese: 5000 } as never)).rejects.toThrow(
      /Did you mean "lease"/,
    )
  })

  it('reject calls with ConnectionError when nothing listens at the url', async () => {
    const value = new SharedValue('int32', 0, { url: 'redis://127.0.0.1:1' })
    const error = await value.get().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectionError)
    expect(error).toMatchObject({ code: 'IPC_CONNECTION' })
    await value.close()
  })
})

describeWithRedis('Redis SharedValue', (server) => {
  const keysOf = async (name: string) => server().command('EXISTS', `ipc:{${name}}:meta`, `ipc:{${name}}:value`)

  it('stores the value as decimal text another client reads, and get() reads it back', async () => {
    const name = uniqueName()
    const value = new SharedValue('int64', -5n, { name, url: server().url })
    expect(await value.get()).toBe(-5n)
    expect(await server().command('GET', `ipc:{${name}}:value`)).toBe('$2')
    await value.set(9223372036854775807n)
    expect(await value.get()).toBe(9223372036854775807n)
    await server().command('SET', `ipc:{${name}}:value`, '-12', 'KEEPTTL')
    expect(await value.get()).toBe(-12n)
    await value.close()
  })

  it('close() right after the constructor (attach still running) closes the lock it makes too: no key stays', async () => {
    const name = uniqueName()
    const value = new SharedValue('int32', 0, { name, url: server().url })
    await value.close()
    // Nothing of the value or of its lock: the server has no key with this name in it.
    const left = await server().command('EVAL', `return #redis.call('KEYS', ARGV[1])`, '0', `*${name}*`)
    expect(left).toBe(':0')
    const locks = await server().command('EVAL', `return #redis.call('KEYS', 'ipc:*')`, '0')
    expect(locks).toBe(':0')
  })

  it('wraps int32 add and sub exactly as Atomics.add on an Int32Array', async () => {
    const value = new SharedValue('int32', 2147483647, { url: server().url })
    const reference = new Int32Array([2147483647])
    expect(await value.add(1)).toBe(Atomics.add(reference, 0, 1))
    expect(await value.get()).toBe(reference[0])
    expect(await value.sub(2147483647)).toBe(Atomics.sub(reference, 0, 2147483647))
    expect(await value.get()).toBe(reference[0])
    expect(await value.add(-2147483648)).toBe(Atomics.add(reference, 0, -2147483648))
    expect(await value.get()).toBe(reference[0])
    await value.close()
  })

  it('wraps every integer type as its typed array does', async () => {
    const cases = [
      ['int8', Int8Array, 100, 100],
      ['uint8', Uint8Array, 200, 100],
      ['int16', Int16Array, -32768, -1],
      ['uint16', Uint16Array, 1, 65535],
      ['uint32', Uint32Array, 4294967295, 2],
    ] as const
    for (const [type, View, start, n] of cases) {
      const value = new SharedValue(type, start, { url: server().url })
      const reference = new View([start])
      expect(await value.add(n)).toBe(Atomics.add(reference, 0, n))
      expect(await value.get()).toBe(reference[0])
      expect(await value.sub(n)).toBe(Atomics.sub(reference, 0, n))
      expect(await value.sub(n)).toBe(Atomics.sub(reference, 0, n))
      expect(await value.get()).toBe(reference[0])
      await value.close()
    }
  })

  it('wraps int64 and uint64 exactly (two 32-bit limbs on the server)', async () => {
    const signed = new SharedValue('int64', 9223372036854775807n, { url: server().url })
    const big = new BigInt64Array([9223372036854775807n])
    expect(await signed.add(1n)).toBe(Atomics.add(big, 0, 1n))
    expect(await signed.get()).toBe(-9223372036854775808n)
    expect(await signed.sub(1n)).toBe(Atomics.sub(big, 0, 1n))
    expect(await signed.get()).toBe(9223372036854775807n)
    expect(await signed.add(-4294967297n)).toBe(Atomics.add(big, 0, -4294967297n))
    expect(await signed.get()).toBe(big[0])
    const unsigned = new SharedValue('uint64', 0n, { url: server().url })
    const ubig = new BigUint64Array([0n])
    expect(await unsigned.sub(1n)).toBe(Atomics.sub(ubig, 0, 1n))
    expect(await unsigned.get()).toBe(18446744073709551615n)
    expect(await unsigned.add(4294967296n)).toBe(Atomics.add(ubig, 0, 4294967296n))
    expect(await unsigned.get()).toBe(ubig[0])
    await signed.close()
    await unsigned.close()
  })

  it('exchange and compareExchange return the previous value; compareExchange stores only on a match', async () => {
    const value = new SharedValue('int64', 5n, { url: server().url })
    expect(await value.exchange(-7n)).toBe(5n)
    expect(await value.compareExchange(5n, 1n)).toBe(-7n)
    expect(await value.get()).toBe(-7n)
    expect(await value.compareExchange(-7n, 1n)).toBe(-7n)
    expect(await value.get()).toBe(1n)
    await value.close()
  })

  it('keeps floats as a Float32Array or Float64Array does, including -0, inf and nan', async () => {
    const f32 = new SharedValue('float32', 0.1, { url: server().url })
    expect(await f32.get()).toBe(Math.fround(0.1))
    const f64 = new SharedValue('float64', 0.1, { url: server().url })
    expect(await f64.get()).toBe(0.1)
    for (const x of [-0, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, 1e21, 5e-324]) {
      await f64.set(x)
      expect(Object.is(await f64.get(), x)).toBe(true)
    }
    const flag = new SharedValue('bool', true, { url: server().url })
    expect(await flag.get()).toBe(true)
    await flag.set(false)
    expect(await flag.get()).toBe(false)
    await f32.close()
    await f64.close()
    await flag.close()
  })

  it('rejects add on a float value and values of the wrong kind, writing nothing', async () => {
    const f64 = new SharedValue('float64', 1, { url: server().url })
    await expect((f64 as unknown as SharedValue<'int32'>).add(1)).rejects.toThrow(TypeError)
    const i8 = new SharedValue('int8', 1, { url: server().url })
    await expect(i8.set(128)).rejects.toThrow(RangeError)
    await expect(i8.add(1.5)).rejects.toThrow(TypeError)
    await expect(i8.set(2n as never)).rejects.toThrow(TypeError)
    expect(await i8.get()).toBe(1)
    await f64.close()
    await i8.close()
  })

  it('reports a garbled value as CorruptError and never computes with it', async () => {
    const name = uniqueName()
    const value = new SharedValue('uint8', 1, { name, url: server().url })
    await value.ready()
    for (const garbled of ['256', '-1', '1.5', 'abc', '', '0x10', ' 1']) {
      await server().command('SET', `ipc:{${name}}:value`, garbled, 'KEEPTTL')
      await expect(value.get()).rejects.toBeInstanceOf(CorruptError)
      await expect(value.add(1)).rejects.toBeInstanceOf(CorruptError)
      expect(await server().command('GET', `ipc:{${name}}:value`)).toBe(`$${Buffer.byteLength(garbled)}`)
    }
    await server().command('HSET', `ipc:{${name}}:meta`, 'type', 'int99')
    await expect(SharedValue.open(name, undefined, { url: server().url })).rejects.toBeInstanceOf(CorruptError)
    await value.unlink()
    await value.close()
  })

  it('open(): NotFoundError for a missing name, IncompatibleError for another kind or type', async () => {
    await expect(SharedValue.open(uniqueName(), 'int32', { url: server().url })).rejects.toMatchObject({
      name: 'NotFoundError',
    })
    const array = await new SharedArray('int32', 2, { url: server().url }).ready()
    await expect(SharedValue.open(array.name, undefined, { url: server().url })).rejects.toMatchObject({
      name: 'IncompatibleError',
    })
    await expect(SharedArray.open(array.name, 'float64', { url: server().url })).rejects.toMatchObject({
      name: 'IncompatibleError',
    })
    const taken = new SharedValue('int32', 0, { name: array.name, url: server().url })
    await expect(taken.get()).rejects.toMatchObject({ name: 'ExistsError' })
    await taken.close()
    await array.close()
  })

  it('open(name, type, { create }) creates once: of racing objects exactly one creates', async () => {
    const name = uniqueName()
    const all = await Promise.all(
      Array.from({ length: 5 }, () => SharedValue.open(name, 'int32', { url: server().url, create: { initial: 7 } })),
    )
    expect(all.filter((value) => value.created)).toHaveLength(1)
    for (const value of all) expect(await value.get()).toBe(7)
    for (const value of all) await value.close()
    expect(await keysOf(name)).toBe(':0')
  })

  it('the last close removes the keys and the lock; persistent keeps them until unlink()', async () => {
    const name = uniqueName()
    const value = new SharedValue('int32', 1, { name, url: server().url })
    await value.ready()
    const lockName = value.getLock().name
    const other = await SharedValue.open(name, 'int32', { url: server().url })
    await value.close()
    expect(await other.get()).toBe(1)
    await other.close()
    expect(await keysOf(name)).toBe(':0')
    expect(await server().command('EXISTS', `ipc:{${lockName}}:meta`)).toBe(':0')

    const kept = new SharedValue('int32', 3, { name, url: server().url, persistent: true })
    await kept.close()
    const again = await SharedValue.open(name, 'int32', { url: server().url })
    expect(await again.get()).toBe(3)
    expect(again.persistent).toBe(true)
    await again.unlink()
    await again.close()
    expect(await keysOf(name)).toBe(':0')
  })

  it('sets a TTL of 3 leases on a non-persistent value', async () => {
    const name = uniqueName()
    const value = await new SharedValue('int32', 1, { name, url: server().url, lease: 1000 }).ready()
    const ttl = Number((await server().command('PTTL', `ipc:{${name}}:value`)).slice(1))
    expect(ttl).toBeGreaterThan(2000)
    expect(ttl).toBeLessThanOrEqual(3000)
    await value.set(2)
    expect(Number((await server().command('PTTL', `ipc:{${name}}:value`)).slice(1))).toBeGreaterThan(0)
    await value.close()
  })

  it('withLock holds the RLock, enters again from inside, and lock: false has none', async () => {
    const value = await new SharedValue('int32', 0, { url: server().url }).ready()
    const result = await value.withLock(async (lock) => {
      expect(lock.owned).toBe(true)
      return value.withLock(async () => 'inner')
    })
    expect(result).toBe('inner')
    const bare = await new SharedValue('int32', 0, { url: server().url, lock: false }).ready()
    expect(bare.hasLock).toBe(false)
    expect(() => bare.getLock()).toThrow(/without a lock/)
    await expect(bare.withLock(() => 1)).rejects.toMatchObject({ name: 'ValueError' })
    await value.close()
    await bare.close()
  })

  it('SharedArray: get/set/toArray, bounds, and elements stored as a hash', async () => {
    const name = uniqueName()
    const array = new SharedArray('int64', [1n, -2n, 3n], { name, url: server().url })
    expect(await array.toArray()).toEqual([1n, -2n, 3n])
    await array.set(1, 20n)
    expect(await array.get(1)).toBe(20n)
    expect(array.length).toBe(3)
    await expect(array.get(3)).rejects.toThrow(RangeError)
    await expect(array.set(-1, 0n)).rejects.toThrow(RangeError)
    await expect(array.get(0.5)).rejects.toThrow(RangeError)
    expect(await server().command('HLEN', `ipc:{${name}}:items`)).toBe(':3')
    await server().command('HSET', `ipc:{${name}}:items`, '2', '9223372036854775808')
    await expect(array.toArray()).rejects.toBeInstanceOf(CorruptError)
    await expect(array.get(2)).rejects.toBeInstanceOf(CorruptError)
    const zeros = await SharedArray.open(uniqueName(), 'bool', { url: server().url, create: { lengthOrValues: 2 } })
    expect(await zeros.toArray()).toEqual([false, false])
    const collected: boolean[] = []
    for await (const x of zeros) collected.push(x)
    expect(collected).toEqual([false, false])
    await array.close()
    await zeros.close()
  })

  it('has a JSON handle, a TRANSFER descriptor and an inspect line', async () => {
    const value = new SharedValue('int32', 0, { url: server().url })
    expect(value.handle).toMatchObject({ kind: 'shared-value', type: 'int32', lock: true, creating: true })
    await value.ready()
    expect(value.handle.creating).toBeUndefined()
    const copy = await SharedValue.from(JSON.parse(JSON.stringify(value.handle)))
    await value.set(4)
    expect(await copy.get()).toBe(4)
    expect(value[TRANSFER]()).toMatchObject({ export: 'SharedValue' })
    expect(inspect(value)).toMatch(/^SharedValue \(Redis\) \{\s+name: /)
    await copy.close()
    await value.close()
  })
})
