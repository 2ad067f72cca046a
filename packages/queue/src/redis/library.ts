/**
 * The server side of @ipc/queue/redis: one Redis Functions library.
 *
 * Keys of queue `name` (all in hash slot `{name}`; KEYS in this order):
 *
 * | KEYS | key                  | type | member / field → value                         | written by                 | meaning                                   |
 * |------|----------------------|------|------------------------------------------------|----------------------------|-------------------------------------------|
 * | 1    | `ipc:{name}:meta`    | hash | kind, version, maxsize, persistent, shutdown, unfinished, tombs | create, shutdown, put/get (unfinished), task_done, cancel (tombs), sweep | the state; `tombs`: the last tombstone's end (absent: none) |
 * | 2    | `ipc:{name}:items`   | list | wire items (item.ts), oldest first             | put, settle, cancel (head) | the queue                                 |
 * | 3    | `ipc:{name}:getters` | list | waiter ids, oldest first                       | get (tail), settle (head)  | FIFO of blocked gets                      |
 * | 4    | `ipc:{name}:putters` | list | waiter ids, oldest first                       | put (tail), settle (head)  | FIFO of blocked puts (queue full)         |
 * | 5    | `ipc:{name}:waiters` | hash | waiter → "<lease end>\|<lease ms>\|<n>" (get: its max; put: items of the call put before it waited) | get, put, join, renew | live waiters (a missing one was cancelled or lapsed) |
 * | 6    | `ipc:{name}:payloads`| hash | putter → its wire item                         | put, settle, cancel        | the item a blocked put puts when room appears |
 * | 7    | `ipc:{name}:handed`  | hash | waiter → JSON array: ["i", items…] \| ["p", n] \| ["s"(, n)] \| ["j"] \| ["x"] (tombstone) | get, settle, shutdown, task_done, cancel | what a call was given, kept until its caller acks it; ["x"]: cancelled before it ran |
 * | 8    | `ipc:{name}:ends`    | zset | waiter → lease end (server ms) of its `handed` entry | with `handed`, sweep | when sweep looks at an unacked entry      |
 * | 9    | `ipc:{name}:joiners` | set  | waiter ids                                     | join, task_done, shutdown  | blocked joins                             |
 * | 10   | `ipc:{name}:objects` | zset | object id → 3 leases after its last renew      | create, renew, close       | attached objects (last close removes all) |
 *
 * Cost: a put that finds room and a get that finds items or queues are one
 * call each. With nobody waiting and no maxsize, a put runs 3 commands
 * (HMGET, RPUSH, EXISTS), a get 5 (HMGET, LPOP, TIME, HSET, ZADD; 2 more
 * with acks: HDEL, ZREM); a maxsize
 * adds LLEN to a put and EXISTS to a get; HEXISTS is added while a tombstone
 * may exist (see below).
 *
 * Ids: an object is "<clientId>/<n>" (clientId: its process's connection), a
 * call "<object>/<m>". Waking a call PUBLISHes "<waiter> <JSON array>" on
 * `ipc:wake:<clientId>`: the items themselves (["i", …]), a put done (["p", n]:
 * n items of its call are in), a shutdown (["s"], a put's ["s", n]) or a join
 * done (["j"]); the caller sleeps on its socket, never polls. The wake-up may
 * reach the client before the reply of the call it wakes (two sockets), so
 * it carries everything the caller needs.
 *
 * Why each item is delivered exactly once: every function runs atomically.
 * An item leaves `items` only into one `handed` entry (a get's reply, or a
 * wake-up of one blocked get), so no two calls get it. The entry stays until
 * the caller acks it (its object's next call, renew or close carries the
 * acks), or cancels it: a caller that gave up (timeout, abort, a reply after
 * its deadline, a lost connection, close) sends `cancel`, which puts the
 * items of its entry back at the head of `items`, in order. A call never
 * both acks and cancels (one `done` flag on the client decides), so an item
 * is never both kept and given back.
 *
 * A cancel may reach the server before the call it cancels: the client sends
 * it on the same socket after the call, but a call the server refused with
 * "Function not found" (a restart, or a co-tenant's FUNCTION FLUSH) is sent
 * again after FUNCTION LOAD, behind the calls made meanwhile, its cancel
 * among them. So the order is made irrelevant here: a cancel that finds
 * neither a waiting entry nor a handed one leaves a tombstone (["x"] in
 * `handed`, its end in `ends`, 3 leases on), and a get, put or join whose
 * waiter id has one does nothing and replies {'cancelled'}. A call id is
 * new for each call and only its own call hands it anything, so an entry in
 * `handed` when the call starts can only be a tombstone. The check costs one
 * HEXISTS, and only while meta `tombs` says a tombstone may exist (sweep
 * clears it once the last one lapsed); a resend comes within a round trip
 * or two (core sends the calls a flush refused again in its next turn),
 * long before the tombstone lapses. A cancel that finds the call
 * waiting or handed needs none (the call ran; it is never resent after
 * running). A cancel may run twice (the client sends a failed one again
 * with the next renew): the second finds nothing and leaves a tombstone.
 *
 * Wake-ups are trusted: a message on a client's channel naming one of its
 * waiting calls settles that call, and the call's next ack drops what the
 * server handed it. Client ids are random (core's connection.ts) and object
 * ids carry a random part, so a program that may only PUBLISH cannot name a
 * waiter; one that may SUBSCRIBE to the channels or read these keys can,
 * and so can anyone who may write the keys: the README tells users to keep
 * untrusted clients off `ipc:*` (ACLs).
 *
 * Waiter ids read back from `getters`, `putters` and `joiners` are checked
 * with core's `ipc_waiter_ok` ("<clientId>/<object>/<n>", the clientId
 * naming the channel): one another program wrote otherwise is dropped
 * before anything is written for it.
 *
 * Order: puts append at the tail, gets take from the head; blocked puts and
 * gets are served oldest first (`settle`, run by every function that adds
 * items or room, so none is left waiting for what is there), and a newcomer
 * finds room or items only when nobody waits before it, so the items of one
 * producer stay in order. An item given back after a timeout
 * goes to the head; a get that ran meanwhile may have taken the one after it.
 *
 * What a crash or a cut-off loses: a `handed` entry not acked within its
 * lease whose object is gone too (it died, closed, or was cut off for 3
 * leases: not renewed) is dropped by the next create, renew or close
 * (`sweep`), never given again: at most the items a consumer had taken
 * (exactly once, never at least once). A live object's entries are kept
 * past their lease: the object acks or cancels each of its calls itself,
 * however late those calls reach the server (every failed call hands its
 * acks to the next; a cancel that fails is sent again by the next renew,
 * which runs its cancels before its sweep). A blocked put whose object stopped renewing is dropped with its
 * payload (that put never resolved). Keys of a non-persistent queue carry a
 * TTL of `idle` ms (3 leases), renewed by every object's renew, so a queue
 * whose processes all died disappears with its items.
 *
 * Versions: library `ipc_v4_queue` added tombstones; the keys are those of
 * v3 (meta `version` stays 1), so v3 clients share a queue with it (they
 * neither write nor check tombstones, and their sweep drops lapsed ones).
 * `ipc_v5_queue` checks waiter ids with core's `ipc_waiter_ok` (all three
 * parts, not only the client's); same keys, so v3 and v4 clients share a
 * queue with it. `ipc_v6_queue` keeps a live object's lapsed handed entries
 * (sweep) and runs renew's cancels before its sweep; same keys, so older
 * clients share a queue with it (their sweeps drop lapsed entries at once,
 * as before, so a live v6 object's late cancel may then find nothing).
 *
 * Everything read back is range-checked: meta fields out of range are
 * `corrupt`; an item longer than MAX_WIRE or not starting with a tag is
 * refused by put and reported by the client (item.ts) when it comes back.
 */
import { defineLibrary } from '@ipc/core/redis'
import { MAX_WIRE_CHARS } from './item.js'

/** Number of keys every function takes. */
export const KEY_COUNT = 10

/** The parts of the key names, in KEYS order. */
export const KEY_PARTS = [
  'meta',
  'items',
  'getters',
  'putters',
  'waiters',
  'payloads',
  'handed',
  'ends',
  'joiners',
  'objects',
] as const

/** Most items one get, getMany or put call moves (a larger putMany is split by the client). */
export const MAX_BATCH = 1024

/** Largest maxsize. */
export const MAX_MAXSIZE = 0x7fffffff

export const QUEUE_LIBRARY = defineLibrary(
  'queue',
  6,
  `
local MAX_WIRE = ${MAX_WIRE_CHARS}
local MAX_BATCH = ${MAX_BATCH}
local MAX_MAXSIZE = ${MAX_MAXSIZE}

-- The state, or nil and the reply for a missing or foreign key.
local function open(keys, kind, idle)
  local m = redis.call('HMGET', keys[1], 'kind', 'maxsize', 'persistent', 'shutdown', 'unfinished', 'tombs')
  if not m[1] then return nil, {'missing'} end
  if m[1] ~= kind then return nil, {'incompatible', m[1]} end
  local state = { kind = m[1], maxsize = tonumber(m[2]), persistent = m[3] == '1', shutdown = m[4] == '1',
                  unfinished = tonumber(m[5]), idle = tonumber(idle) or 0, tombs = m[6] ~= false }
  -- Range checks: a garbled hash (another program wrote it) is reported, never computed with.
  if not state.maxsize or state.maxsize < 0 or state.maxsize > MAX_MAXSIZE or state.maxsize % 1 ~= 0
    or not state.unfinished or state.unfinished < 0 or state.unfinished % 1 ~= 0
    or (m[4] ~= '0' and m[4] ~= '1') then
    return nil, {'corrupt', 'meta'}
  end
  state.joinable = state.kind == 'joinable-queue'
  state.saved_unfinished = state.unfinished
  return state, nil
end

local function save(keys, state)
  if state.unfinished ~= state.saved_unfinished then
    redis.call('HSET', keys[1], 'unfinished', state.unfinished)
    state.saved_unfinished = state.unfinished
  end
end

-- A TTL on a key just written (it may be new: a list whose last member went is deleted).
local function expire(keys, state, i)
  if not state.persistent then redis.call('PEXPIRE', keys[i], state.idle) end
end

-- Every key's TTL (not persistent): idle ms, renewed by each object's renew.
local function touch(keys, state)
  if state.persistent then return end
  for i = 1, 10 do redis.call('PEXPIRE', keys[i], state.idle) end
end

-- Gives waiter w what it waited for: kept in handed until acked (or dropped at its lease end), and published.
local function hand(keys, state, w, ends, what)
  local message = cjson.encode(what)
  redis.call('HSET', keys[7], w, message)
  redis.call('ZADD', keys[8], ends, w)
  expire(keys, state, 7)
  expire(keys, state, 8)
  redis.call('PUBLISH', ipc_channel_of(w), w .. ' ' .. message)
end

-- The lease and the last field of live waiter w (a get's max; a put's items put before it waited);
-- a lapsed one is dropped (nil).
local function live(keys, w, now)
  local entry = redis.call('HGET', keys[5], w)
  if not entry then return nil end
  redis.call('HDEL', keys[5], w)
  local ends, lease, max = string.match(entry, '^(%d+)|(%d+)|(%d+)$')
  if not ends or tonumber(ends) <= now then return nil end
  return tonumber(lease), tonumber(max)
end

local function room(keys, state)
  return state.maxsize == 0 or redis.call('LLEN', keys[2]) < state.maxsize
end

local TOMBSTONE = '["x"]'

-- Drops what lapsed in handed: a tombstone 3 leases after its cancel (nobody acks one), a handed
-- entry once its lease ended and its object is gone (not renewed for 3 leases, or closed: objects).
-- Run by create, renew and close. A live object acks or cancels each of its calls itself, however
-- late its calls reach the server (a backlog of calls, resends after a flush), so its entries are
-- kept, and looked at again when the object's own lapse comes.
local function sweep(keys, now)
  local lapsed = redis.call('ZRANGEBYSCORE', keys[8], '-inf', now, 'LIMIT', 0, 256)
  local dropped = {}
  for _, w in ipairs(lapsed) do
    local entry = redis.call('HGET', keys[7], w)
    local object = string.match(w, '^(.+)/[^/]+$')
    local lives = entry and entry ~= TOMBSTONE and object and tonumber(redis.call('ZSCORE', keys[10], object)) or 0
    if lives > now then
      redis.call('ZADD', keys[8], lives, w)
    else
      dropped[#dropped + 1] = w
    end
  end
  if #dropped > 0 then
    redis.call('HDEL', keys[7], unpack(dropped))
    redis.call('ZREM', keys[8], unpack(dropped))
  end
  -- Every tombstone has lapsed: calls stop looking for them.
  local tombs = redis.call('HGET', keys[1], 'tombs')
  if tombs and (tonumber(tombs) or 0) <= now then redis.call('HDEL', keys[1], 'tombs') end
end

-- True when call w was cancelled before it ran (a tombstone in handed): it must do nothing.
-- One HEXISTS, and only while a tombstone may exist (meta 'tombs').
local function refused(keys, state, w)
  return state.tombs and redis.call('HEXISTS', keys[7], w) == 1
end

-- Serves the waiters: blocked puts while there is room, blocked gets while there are items,
-- each oldest first, until neither can move. Every function that adds items or room runs it,
-- so between two functions no live get waits while items are queued, and no put waits
-- while there is room (unless shut down). When nobody waits (one EXISTS), it does nothing.
-- now: the server time, or nil (read here when needed).
local function settle(keys, state, now)
  if redis.call('EXISTS', keys[3], keys[4]) == 0 then
    save(keys, state)
    return
  end
  now = now or ipc_now()
  local moved = true
  while moved do
    moved = false
    while not state.shutdown and room(keys, state) do
      local w = redis.call('LPOP', keys[4])
      if not w then break end
      local lease, before = live(keys, w, now)
      local item = redis.call('HGET', keys[6], w)
      redis.call('HDEL', keys[6], w)
      if lease and item and ipc_waiter_ok(w) then
        redis.call('RPUSH', keys[2], item)
        expire(keys, state, 2)
        if state.joinable then state.unfinished = state.unfinished + 1 end
        hand(keys, state, w, now + lease, {'p', before + 1})
        moved = true
      end
    end
    while redis.call('LLEN', keys[2]) > 0 do
      local w = redis.call('LPOP', keys[3])
      if not w then break end
      local lease, max = live(keys, w, now)
      if lease and ipc_waiter_ok(w) then
        local what = redis.call('LPOP', keys[2], math.max(1, math.min(max, MAX_BATCH)))
        table.insert(what, 1, 'i')
        hand(keys, state, w, now + lease, what)
        moved = true
      end
    end
  end
  save(keys, state)
end

-- Wakes every blocked join (unfinished reached 0).
local function wake_joiners(keys, state, now)
  for _, w in ipairs(redis.call('SMEMBERS', keys[9])) do
    local lease = live(keys, w, now)
    if lease and ipc_waiter_ok(w) then hand(keys, state, w, now + lease, {'j'}) end
  end
  redis.call('DEL', keys[9])
end

-- Cancels call w: a waiting one leaves its queue; what it was handed and not acked goes back.
local function cancel(keys, state, w, now)
  if redis.call('HDEL', keys[5], w) == 1 then
    redis.call('LREM', keys[3], 0, w)
    redis.call('LREM', keys[4], 0, w)
    redis.call('HDEL', keys[6], w)
    redis.call('SREM', keys[9], w)
    return {'cancelled'}
  end
  local message = redis.call('HGET', keys[7], w)
  if message == TOMBSTONE then return {'gone'} end
  if not message then
    -- The call may not have run yet (a client resends a call the server refused with "Function
    -- not found" after reloading the library, after calls made meanwhile): it must find this
    -- tombstone and do nothing. Dropped by sweep state.idle (3 leases) from now, its object live or not.
    local ends = now + state.idle
    redis.call('HSET', keys[7], w, TOMBSTONE)
    redis.call('ZADD', keys[8], ends, w)
    expire(keys, state, 7)
    expire(keys, state, 8)
    local tombs = tonumber(redis.call('HGET', keys[1], 'tombs')) or 0
    if ends > tombs then redis.call('HSET', keys[1], 'tombs', ends) end
    state.tombs = true
    return {'gone'}
  end
  redis.call('HDEL', keys[7], w)
  redis.call('ZREM', keys[8], w)
  local ok, what = pcall(cjson.decode, message)
  if not ok or type(what) ~= 'table' then return {'corrupt', 'handed'} end
  if what[1] == 'i' then
    for i = #what, 2, -1 do redis.call('LPUSH', keys[2], what[i]) end
    expire(keys, state, 2)
    settle(keys, state, now)
    return {'returned', #what - 1}
  end
  return {'handed', message}
end

-- Acks: args[4] = count, then that many call ids whose handed entries their callers kept: each
-- entry is dropped. Returns the index of the first argument after them.
local function ack(keys, args)
  local count = tonumber(args[4]) or 0
  -- In chunks: unpack has a limit (a process may ack thousands of calls at once).
  for first = 5, 4 + count, 512 do
    local last = math.min(first + 511, 4 + count)
    redis.call('HDEL', keys[7], unpack(args, first, last))
    redis.call('ZREM', keys[8], unpack(args, first, last))
  end
  return 5 + count
end

-- args: kind, object, idle, acks (none), mode ('new' | 'open' | 'create'), maxsize, persistent
register('create', function(keys, args)
  local kind, object, idle, mode = args[1], args[2], tonumber(args[3]), args[5]
  local existing = redis.call('HGET', keys[1], 'kind')
  local status = 'opened'
  if existing then
    if mode == 'new' then return {'exists', existing} end
    if existing ~= kind then return {'incompatible', existing} end
  else
    if mode == 'open' then return {'missing'} end
    redis.call('HSET', keys[1], 'kind', kind, 'version', '1', 'maxsize', args[6], 'persistent', args[7],
      'shutdown', '0', 'unfinished', '0')
    status = 'created'
  end
  local state, err = open(keys, kind, idle)
  if not state then return err end
  local now = ipc_now()
  sweep(keys, now)
  settle(keys, state, now)
  redis.call('ZADD', keys[10], now + idle, object)
  touch(keys, state)
  return {status, state.persistent and 1 or 0, state.maxsize}
end)

-- args: kind, object, idle, acks…, waiter, lease, mode ('try' | 'wait'), items…
-- Puts as many items as there is room for; with 'wait', the next one waits for room (queued).
-- Reply: {'ok', n} | {'full', n} | {'queued', n} | {'shutdown', 0} | {'too-big', i}
-- No settle first: the last function left no put waiting while there was room (see settle).
register('put', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local at = ack(keys, args)
  local w, lease, mode = args[at], tonumber(args[at + 1]), args[at + 2]
  local first = at + 3
  if refused(keys, state, w) then return {'cancelled'} end
  if state.shutdown then return {'shutdown', 0} end
  for i = first, #args do
    if #args[i] > MAX_WIRE or #args[i] < 1 then return {'too-big', i - first} end
  end
  local n = #args - first + 1
  if n < 1 or n > MAX_BATCH then return {'too-many', n} end
  local free = n
  -- Without a maxsize no put ever waits (a put waits only for room), so putters is empty: no LLEN.
  if state.maxsize > 0 then
    if redis.call('LLEN', keys[4]) > 0 then free = 0
    else free = math.max(0, state.maxsize - redis.call('LLEN', keys[2])) end
  end
  local k = math.min(n, free)
  if k > 0 then
    redis.call('RPUSH', keys[2], unpack(args, first, first + k - 1))
    expire(keys, state, 2)
    if state.joinable then state.unfinished = state.unfinished + k end
    settle(keys, state, nil)
  end
  if k == n then return {'ok', k} end
  if mode ~= 'wait' then return {'full', k} end
  local now = ipc_now()
  -- The waiter entry's last field keeps k: the wake-up may reach the client before this reply.
  redis.call('RPUSH', keys[4], w)
  redis.call('HSET', keys[5], w, (now + lease) .. '|' .. lease .. '|' .. k)
  redis.call('HSET', keys[6], w, args[first + k])
  expire(keys, state, 4)
  expire(keys, state, 5)
  expire(keys, state, 6)
  return {'queued', k}
end)

-- args: kind, object, idle, acks…, waiter, lease, mode ('try' | 'wait'), max
-- Reply: {'items', {items…}} (handed to waiter: ack or cancel it) | {'queued'} | {'empty'} | {'shutdown'}
--      | {'cancelled'} (cancelled before it ran: nothing done; put and join too)
-- No settle first: the last function left no live get waiting while items were queued (see settle).
register('get', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local at = ack(keys, args)
  local w, lease, mode = args[at], tonumber(args[at + 1]), args[at + 2]
  local max = math.max(1, math.min(tonumber(args[at + 3]) or 1, MAX_BATCH))
  if refused(keys, state, w) then return {'cancelled'} end
  local items = redis.call('LPOP', keys[2], max)
  local now = ipc_now()
  if items then
    local what = {'i'}
    for i = 1, #items do what[i + 1] = items[i] end
    redis.call('HSET', keys[7], w, cjson.encode(what))
    redis.call('ZADD', keys[8], now + lease, w)
    expire(keys, state, 7)
    expire(keys, state, 8)
    -- Room now: blocked puts go in. Without a maxsize no put waits, and no get waits while
    -- items are queued (settle's rule), so there is nothing to settle.
    if state.maxsize > 0 then settle(keys, state, now) end
    return {'items', items}
  end
  if state.shutdown then return {'shutdown'} end
  if mode ~= 'wait' then return {'empty'} end
  redis.call('RPUSH', keys[3], w)
  redis.call('HSET', keys[5], w, (now + lease) .. '|' .. lease .. '|' .. max)
  expire(keys, state, 3)
  expire(keys, state, 5)
  return {'queued'}
end)

-- Gives items back to the head, in order (the items after one the client could not decode).
-- args: kind, object, idle, acks…, items…
register('unget', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local at = ack(keys, args)
  for i = #args, at, -1 do redis.call('LPUSH', keys[2], args[i]) end
  expire(keys, state, 2)
  settle(keys, state, ipc_now())
  return {'ok'}
end)

-- args: kind, object, idle, acks…, waiter
-- Reply: {'cancelled'} (it was waiting) | {'returned', n} (its items went back to the head)
--      | {'handed', JSON} (its put, shutdown or join had happened: the wake-up it was sent) | {'gone'}
register('cancel', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local at = ack(keys, args)
  local reply = cancel(keys, state, args[at], ipc_now())
  save(keys, state)
  return reply
end)

-- args: kind, object, idle, acks…, waiter, lease, mode ('try' | 'wait')
-- Reply: {'done'} | {'pending'} | {'queued'}
register('join', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local at = ack(keys, args)
  local w, lease, mode = args[at], tonumber(args[at + 1]), args[at + 2]
  if refused(keys, state, w) then return {'cancelled'} end
  local now = ipc_now()
  settle(keys, state, now)
  if state.unfinished == 0 then return {'done'} end
  if mode ~= 'wait' then return {'pending'} end
  redis.call('SADD', keys[9], w)
  redis.call('HSET', keys[5], w, (now + lease) .. '|' .. lease .. '|0')
  expire(keys, state, 9)
  expire(keys, state, 5)
  return {'queued'}
end)

-- args: kind, object, idle, acks…
-- Reply: {'ok', unfinished} | {'over'} (more task_done calls than items put)
register('task_done', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  ack(keys, args)
  if state.unfinished <= 0 then return {'over'} end
  state.unfinished = state.unfinished - 1
  if state.unfinished == 0 then wake_joiners(keys, state, ipc_now()) end
  save(keys, state)
  return {'ok', state.unfinished}
end)

-- args: kind, object, idle, acks…, immediate ('1' | '0')
-- Blocked puts are woken with ['s'] (their items are not put); blocked gets too when no item is left.
-- Reply: {'ok', dropped}
register('shutdown', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local at = ack(keys, args)
  local now = ipc_now()
  settle(keys, state, now)
  redis.call('HSET', keys[1], 'shutdown', '1')
  state.shutdown = true
  local dropped = 0
  if args[at] == '1' then
    dropped = redis.call('LLEN', keys[2])
    redis.call('DEL', keys[2])
    if state.joinable then
      state.unfinished = math.max(0, state.unfinished - dropped)
      if state.unfinished == 0 then wake_joiners(keys, state, now) end
    end
  end
  local w = redis.call('LPOP', keys[4])
  while w do
    redis.call('HDEL', keys[6], w)
    local lease, before = live(keys, w, now)
    if lease and ipc_waiter_ok(w) then hand(keys, state, w, now + lease, {'s', before}) end
    w = redis.call('LPOP', keys[4])
  end
  if redis.call('LLEN', keys[2]) == 0 then
    w = redis.call('LPOP', keys[3])
    while w do
      local lease = live(keys, w, now)
      if lease and ipc_waiter_ok(w) then hand(keys, state, w, now + lease, {'s'}) end
      w = redis.call('LPOP', keys[3])
    end
  end
  save(keys, state)
  return {'ok', dropped}
end)

-- args: kind, object, idle, acks…
-- Reply: {'ok', size, shutdown (0 | 1), unfinished, maxsize}
register('state', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  ack(keys, args)
  settle(keys, state, ipc_now())
  return {'ok', redis.call('LLEN', keys[2]), state.shutdown and 1 or 0, state.unfinished, state.maxsize}
end)

-- Renews this object and its waiting calls; cancels the calls its process gave up while cut off.
-- args: kind, object, idle, acks…, lease, cancel count, cancels…, waiters…
-- Reply: {handed (waiter, JSON, …), gone waiters, unfinished}
register('renew', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local at = ack(keys, args)
  local object, lease, count = args[2], tonumber(args[at]), tonumber(args[at + 1])
  local now = ipc_now()
  -- The cancels first: the sweep must not drop what an orphan's cancel gives back.
  for i = at + 2, at + 1 + count do cancel(keys, state, args[i], now) end
  sweep(keys, now)
  settle(keys, state, now)
  local handed, gone = {}, {}
  for i = at + 2 + count, #args do
    local w = args[i]
    local entry = redis.call('HGET', keys[5], w)
    if entry then
      local max = string.match(entry, '|(%d+)$') or '0'
      redis.call('HSET', keys[5], w, (now + lease) .. '|' .. lease .. '|' .. max)
    else
      local message = redis.call('HGET', keys[7], w)
      if message then
        handed[#handed + 1] = w
        handed[#handed + 1] = message
      else
        gone[#gone + 1] = w
      end
    end
  end
  redis.call('ZADD', keys[10], now + state.idle, object)
  touch(keys, state)
  save(keys, state)
  return {handed, gone, state.unfinished}
end)

-- Detaches an object: cancels its calls (their handed items go back); the last object removes a
-- non-persistent queue. args: kind, object, idle, acks…, cancels…
register('close', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local at = ack(keys, args)
  local now = ipc_now()
  for i = at, #args do cancel(keys, state, args[i], now) end
  redis.call('ZREM', keys[10], args[2])
  -- Objects whose process stopped renewing for 3 leases are gone.
  redis.call('ZREMRANGEBYSCORE', keys[10], '-inf', now)
  sweep(keys, now)
  settle(keys, state, now)
  if not state.persistent and redis.call('ZCARD', keys[10]) == 0 then
    redis.call('DEL', keys[1], keys[2], keys[3], keys[4], keys[5], keys[6], keys[7], keys[8], keys[9], keys[10])
    return {'removed'}
  end
  touch(keys, state)
  return {'ok'}
end)

-- args: kind. A name unlinked and reused since by another kind is not this object's to delete.
register('unlink', function(keys, args)
  local kind = redis.call('HGET', keys[1], 'kind')
  if kind and kind ~= args[1] then return 0 end
  return redis.call('DEL', keys[1], keys[2], keys[3], keys[4], keys[5], keys[6], keys[7], keys[8], keys[9], keys[10])
end)
`,
)
