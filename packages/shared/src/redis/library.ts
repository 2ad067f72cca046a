/**
 * The server side of @ipc/shared/redis: one Redis Functions library for
 * SharedValue and SharedArray.
 *
 * Keys of value or array `name` (all in hash slot `{name}`; KEYS in this order):
 *
 * | KEYS | key                   | type   | member / field → value                 | written by                          |
 * |------|-----------------------|--------|----------------------------------------|-------------------------------------|
 * | 1    | `ipc:{name}:meta`     | hash   | kind, version, type, length, lock, persistent | create (once)                 |
 * | 2    | `ipc:{name}:value`    | string | the value, as text (below)             | SharedValue: create, set, add, …    |
 * | 2    | `ipc:{name}:items`    | hash   | "0" … "<length-1>" → element, as text  | SharedArray: create, set, add, …    |
 * | 3    | `ipc:{name}:objects`  | zset   | object id → 3 leases after its last renew | create, renew, close             |
 *
 * `kind` is `shared-value` or `shared-array`; `type` a type name (`int32`,
 * `float64`, `bool`, …); `lock` the name of the value's RLock
 * (@ipc/semaphore/redis, its own keys) or empty for none.
 *
 * Elements as text, so that any client reads them (`GET ipc:{n}:value`,
 * `HGET ipc:{n}:items 3`): integers (64-bit ones too) in decimal, exact
 * (`-42`, `18446744073709551615`); floats as JavaScript prints them
 * (`0.1`, `1e+21`, `-0`), `inf`, `-inf` or `nan`; bool `0` or `1`. Text
 * another client wrote is checked against the type before use: a decimal
 * integer within the type's range (leading zeros accepted), a float in one of
 * those forms, 0 or 1; anything else is `corrupt` (the client throws
 * CorruptError), never computed with.
 *
 * Arithmetic is exact and wraps as Atomics does on a typed array of the
 * type: 8- to 32-bit integers in Lua numbers (doubles: exact below 2^53),
 * then reduced modulo 2^bits into the type's range; 64-bit integers as two
 * 32-bit limbs in two's complement (Lua numbers cannot hold them). Every
 * function runs atomically on the server, so add/sub/exchange/
 * compareExchange from any number of clients never lose an update.
 *
 * Lifetime (as @ipc/semaphore/redis): each object renews its entry in
 * `objects` every lease/3; the keys of a non-persistent value carry a TTL of
 * 3 leases, set at create and renewed by each renew (SET keeps it with
 * KEEPTTL, HSET keeps it anyway), so a value whose processes all died
 * disappears. `close` removes the object; the last one removes the keys
 * unless persistent.
 *
 * What a SIGKILL or a dropped connection can lose: nothing half-written
 * (each write is one function, run whole or not at all). A call whose
 * connection drops, or whose reply comes after the client stopped waiting,
 * may have run: the client reports ConnectionError and says so. A killed
 * process's object stays in `objects` until 3 leases after its last renew,
 * and so keeps a non-persistent value on the server that long.
 */
import { defineLibrary } from '@ipc/core/redis'

/** The parts of the key names, in KEYS order, per kind. */
export const VALUE_KEY_PARTS = ['meta', 'value', 'objects'] as const
export const ARRAY_KEY_PARTS = ['meta', 'items', 'objects'] as const

/** Most elements of a Redis SharedArray (toArray() returns them in one reply). */
export const MAX_REDIS_ARRAY_LENGTH = 1_048_576

export const SHARED_LIBRARY = defineLibrary(
  'shared',
  2,
  `
local MAX_LENGTH = ${MAX_REDIS_ARRAY_LENGTH}
local TWO32 = 4294967296
local SMALL = { int8 = {-128, 127}, uint8 = {0, 255}, int16 = {-32768, 32767}, uint16 = {0, 65535},
  int32 = {-2147483648, 2147483647}, uint32 = {0, 4294967295} }
local BIG = { int64 = true, uint64 = false } -- signed?
local FLOAT = { float32 = true, float64 = true }

-- 64-bit integers: {hi, lo}, two's complement, each limb 0 .. 2^32-1.
local function neg64(hi, lo)
  if lo == 0 then return (TWO32 - hi) % TWO32, 0 end
  return TWO32 - 1 - hi, TWO32 - lo
end

-- A decimal integer of type t (int64 or uint64) as limbs, or nil (not decimal, or out of range).
local function parse64(t, s)
  local signed = BIG[t]
  local negative = string.sub(s, 1, 1) == '-'
  local digits = negative and string.sub(s, 2) or s
  if #digits == 0 or #digits > 40 or not string.match(digits, '^%d+$') then return nil end
  if negative and not signed then return nil end
  local hi, lo = 0, 0
  for i = 1, #digits do
    lo = lo * 10 + string.byte(digits, i) - 48
    local carry = math.floor(lo / TWO32)
    lo = lo - carry * TWO32
    hi = hi * 10 + carry
    if hi >= TWO32 then return nil end
  end
  if signed then
    if negative then
      if hi > 2147483648 or (hi == 2147483648 and lo > 0) then return nil end
      hi, lo = neg64(hi, lo)
    elseif hi >= 2147483648 then return nil end
  end
  return {hi, lo}
end

local function format64(t, v)
  local hi, lo = v[1], v[2]
  local sign = ''
  if BIG[t] and hi >= 2147483648 then
    sign = '-'
    hi, lo = neg64(hi, lo)
  end
  local out = {}
  repeat
    local r = hi % 10
    hi = (hi - r) / 10
    local x = r * TWO32 + lo
    local d = x % 10
    lo = (x - d) / 10
    out[#out + 1] = d
  until hi == 0 and lo == 0
  local text = {}
  for i = #out, 1, -1 do text[#text + 1] = out[i] end
  return sign .. table.concat(text)
end

local function add64(a, b)
  local lo = a[2] + b[2]
  local carry = lo >= TWO32 and 1 or 0
  return {(a[1] + b[1] + carry) % TWO32, lo - carry * TWO32}
end

-- An element's text as a number (8- to 32-bit), limbs (64-bit), or the text itself
-- (float, bool: never computed with); nil when it breaks the type's rules.
local function parse(t, s)
  if type(s) ~= 'string' then return nil end
  local range = SMALL[t]
  if range then
    if #s > 16 or not string.match(s, '^%-?%d+$') then return nil end
    local n = tonumber(s)
    if not n or n < range[1] or n > range[2] then return nil end
    return n + 0
  end
  if BIG[t] ~= nil then return parse64(t, s) end
  if FLOAT[t] then
    if s == 'inf' or s == '-inf' or s == 'nan' then return s end
    if #s > 40 then return nil end
    if string.match(s, '^%-?%d+%.?%d*$') or string.match(s, '^%-?%d+%.?%d*[eE][%+%-]?%d+$')
      or string.match(s, '^%-?%.%d+$') then return s end
    return nil
  end
  if t == 'bool' and (s == '0' or s == '1') then return s end
  return nil
end

-- The canonical text of a parsed integer element.
local function format(t, v)
  if SMALL[t] then return string.format('%.0f', v) end
  return format64(t, v)
end

local function is_integer(t) return SMALL[t] ~= nil or BIG[t] ~= nil end

-- a + b (or a - b) wrapped into type t, as Atomics.add/sub on a typed array of t.
local function add(t, a, b, subtract)
  local range = SMALL[t]
  if range then
    local m = range[2] - range[1] + 1
    local r = subtract and a - b or a + b
    return ((r - range[1]) % m) + range[1]
  end
  if subtract then b = {neg64(b[1], b[2])} end
  return add64(a, b)
end

local function equal(t, a, b)
  if SMALL[t] then return a == b end
  return a[1] == b[1] and a[2] == b[2]
end

-- The state, or nil and the reply for a missing, foreign or garbled key.
local function open(keys, kind, want)
  local m = redis.call('HMGET', keys[1], 'kind', 'type', 'length', 'lock', 'persistent')
  if not m[1] then return nil, {'missing'} end
  if m[1] ~= kind then return nil, {'incompatible', m[1]} end
  local t, length = m[2], tonumber(m[3])
  if not (SMALL[t] or BIG[t] ~= nil or FLOAT[t] or t == 'bool') then return nil, {'corrupt', 'type'} end
  if not length or length ~= math.floor(length) or length < 0 or length > MAX_LENGTH
    or (kind == 'shared-value' and length ~= 1) then
    return nil, {'corrupt', 'length'}
  end
  if want ~= '' and want ~= t then return nil, {'other-type', t} end
  return { kind = kind, type = t, length = length, lock = m[4] or '', persistent = m[5] == '1' }, nil
end

local function touch(keys, state, idle)
  if state.persistent then return end
  for i = 1, 3 do redis.call('PEXPIRE', keys[i], idle) end
end

-- Element index (text) checked against the length: the field name, or nil.
local function field(state, index)
  if state.kind == 'shared-value' then return '' end
  local i = tonumber(index)
  if not i or i ~= math.floor(i) or i < 0 or i >= state.length then return nil end
  return string.format('%d', i)
end

local function read(keys, state, f)
  if state.kind == 'shared-value' then return redis.call('GET', keys[2]) end
  return redis.call('HGET', keys[2], f)
end

local function write(keys, state, f, s)
  if state.kind == 'shared-value' then redis.call('SET', keys[2], s, 'KEEPTTL')
  else redis.call('HSET', keys[2], f, s) end
end

-- args: kind, object, idle, mode ('new' | 'open' | 'create'), type ('' = any, when opening), length,
--       persistent, lock name, then the initial elements (none: zeros)
-- Reply: {'created' | 'opened', type, length, lock, persistent} | {'exists', kind} | {'missing'}
--        | {'incompatible', kind} | {'other-type', type} | {'corrupt', what}
register('create', function(keys, args)
  local kind, object, idle, mode, want = args[1], args[2], tonumber(args[3]), args[4], args[5]
  local existing = redis.call('HGET', keys[1], 'kind')
  local status = 'opened'
  if existing then
    if mode == 'new' then return {'exists', existing} end
  else
    if mode == 'open' then return {'missing'} end
    local t, length = want, tonumber(args[6])
    if parse(t, '0') == nil or not length or length < 0 or length > MAX_LENGTH then return {'bad-argument'} end
    if #args > 8 and #args - 8 ~= (kind == 'shared-value' and 1 or length) then return {'bad-argument'} end
    -- Check every initial element before writing anything.
    for i = 9, #args do
      if parse(t, args[i]) == nil then return {'bad-argument'} end
    end
    redis.call('HSET', keys[1], 'kind', kind, 'version', '1', 'type', t, 'length', length,
      'lock', args[8], 'persistent', args[7])
    if kind == 'shared-value' then
      redis.call('SET', keys[2], args[9] or '0')
    elseif length > 0 then
      local chunk = {}
      for i = 0, length - 1 do
        chunk[#chunk + 1] = i
        chunk[#chunk + 1] = args[9 + i] or '0'
        if #chunk >= 2000 or i == length - 1 then
          redis.call('HSET', keys[2], unpack(chunk))
          chunk = {}
        end
      end
    end
    status = 'created'
  end
  local state, err = open(keys, kind, want)
  if not state then return err end
  redis.call('ZADD', keys[3], ipc_now() + idle, object)
  touch(keys, state, idle)
  return {status, state.type, state.length, state.lock, state.persistent and 1 or 0}
end)

-- args: kind, object, idle, type, index ('' for a value)
-- Reply: {'ok', text} | {'index'} | errors as above
register('get', function(keys, args)
  local state, err = open(keys, args[1], args[4])
  if not state then return err end
  local f = field(state, args[5])
  if not f then return {'index'} end
  local s = read(keys, state, f)
  local v = parse(state.type, s)
  if v == nil then return {'corrupt', 'element ' .. (f == '' and 'value' or f)} end
  if is_integer(state.type) then return {'ok', format(state.type, v)} end
  return {'ok', s}
end)

-- args: kind, object, idle, type
-- Reply: {'ok', texts...}
register('all', function(keys, args)
  local state, err = open(keys, args[1], args[4])
  if not state then return err end
  local out = {'ok'}
  local t = state.type
  for start = 0, state.length - 1, 1000 do
    local fields = {}
    for i = start, math.min(start + 999, state.length - 1) do fields[#fields + 1] = i end
    local values = redis.call('HMGET', keys[2], unpack(fields))
    for j, s in ipairs(values) do
      local v = parse(t, s)
      if v == nil then return {'corrupt', 'element ' .. fields[j]} end
      out[#out + 1] = is_integer(t) and format(t, v) or s
    end
  end
  return out
end)

-- args: kind, object, idle, type, index, text (checked by the client; checked again)
register('set', function(keys, args)
  local state, err = open(keys, args[1], args[4])
  if not state then return err end
  local f = field(state, args[5])
  if not f then return {'index'} end
  if parse(state.type, args[6]) == nil then return {'bad-argument'} end
  write(keys, state, f, args[6])
  return {'ok'}
end)

-- Atomic read-modify-write of one integer element.
-- args: kind, object, idle, type, index, op ('add' | 'sub' | 'exchange' | 'compare-exchange'), operand[, value]
-- Reply: {'ok', previous text}
register('update', function(keys, args)
  local state, err = open(keys, args[1], args[4])
  if not state then return err end
  local t = state.type
  if not is_integer(t) then return {'not-integer', t} end
  local f = field(state, args[5])
  if not f then return {'index'} end
  local current = parse(t, read(keys, state, f))
  if current == nil then return {'corrupt', 'element ' .. (f == '' and 'value' or f)} end
  local op, operand = args[6], parse(t, args[7])
  if operand == nil then return {'bad-argument'} end
  local result
  if op == 'add' then result = add(t, current, operand, false)
  elseif op == 'sub' then result = add(t, current, operand, true)
  elseif op == 'exchange' then result = operand
  elseif op == 'compare-exchange' then
    local value = parse(t, args[8])
    if value == nil then return {'bad-argument'} end
    if equal(t, current, operand) then result = value end
  else return {'bad-argument'} end
  if result ~= nil then write(keys, state, f, format(t, result)) end
  return {'ok', format(t, current)}
end)

-- args: kind, object, idle
register('renew', function(keys, args)
  local state, err = open(keys, args[1], '')
  if not state then return err end
  local idle = tonumber(args[3])
  redis.call('ZADD', keys[3], ipc_now() + idle, args[2])
  touch(keys, state, idle)
  return {'ok'}
end)

-- Detaches an object; the last one removes a non-persistent value.
-- args: kind, object, idle
register('close', function(keys, args)
  local state, err = open(keys, args[1], '')
  if not state then return err end
  redis.call('ZREM', keys[3], args[2])
  -- Objects whose process stopped renewing for 3 leases are gone.
  redis.call('ZREMRANGEBYSCORE', keys[3], '-inf', ipc_now())
  if not state.persistent and redis.call('ZCARD', keys[3]) == 0 then
    redis.call('DEL', keys[1], keys[2], keys[3])
    return {'removed', state.lock}
  end
  touch(keys, state, tonumber(args[3]))
  return {'ok', state.lock}
end)

-- Removes the value now. Reply: its lock's name ('' for none), or nil when it did not exist.
-- args: kind
register('unlink', function(keys, args)
  local m = redis.call('HMGET', keys[1], 'kind', 'lock')
  if m[1] ~= args[1] then return {'missing'} end
  redis.call('DEL', keys[1], keys[2], keys[3])
  return {'ok', m[2] or ''}
end)
`,
)
