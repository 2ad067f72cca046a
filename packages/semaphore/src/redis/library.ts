/**
 * The server side of @ipc/semaphore/redis: one Redis Functions library.
 *
 * Keys of semaphore `name` (all in hash slot `{name}`; KEYS in this order):
 *
 * | KEYS | key                  | type | member / field → value                 | meaning                                   |
 * |------|----------------------|------|----------------------------------------|-------------------------------------------|
 * | 1    | `ipc:{name}:meta`    | hash | kind, version (3), free, bound, token, depth, persistent, reclaim, window, nudged, served, queued; `w:<token>` → waiter | the state; `token` = last grant; `depth`: 1 while a lock is held, else 0 (v9 also counted an RLock's re-entries here); `window`: when the last waiter was served, then when it gave that permit back (server ms); `nudged`: the waiter nudged since; `served`: the token it was served until it gives it back; `queued`: the length of queue; `w:<token>`: the waiter a grant was handed to (only those grants have one) |
 * | 2    | `ipc:{name}:holders` | zset | "<token>\|<object>" → lease end (server ms); `keep` → +inf | permits out, one member per grant, naming the object it was granted to; `keep` keeps the key (and its TTL) when none is out |
 * | 3    | `ipc:{name}:queue`   | list | waiter ids, oldest first               | FIFO of waiting acquires                  |
 * | 4    | `ipc:{name}:waiters` | hash | waiter → "<lease end>\|<lease ms>\|<queued at>" | live waiters (a missing one was cancelled) |
 * | 5    | `ipc:{name}:grants`  | hash | waiter → token                         | grants handed to a waiter (for a lost wake-up) |
 * | 6    | `ipc:{name}:objects` | zset | object id → 3 leases after its last renew | attached objects (last close removes all) |
 *
 * Layout version 3 (library v7; layout 2, v4 to v6, kept each grant's
 * owner in a meta field `o:<token>`, and had neither `queued` nor `keep`):
 * - a holders member names the object it was granted to, so a release or
 *   renew finds its own grants with the member alone (`ZREM` tells whether
 *   the token was live and this object's), and a grant writes no owner;
 * - `queued` is kept equal to the queue's length by every function that
 *   pushes to or takes from it, so a call reads the queue only when
 *   someone is in it;
 * - holders keeps a member `keep`, made with the key, so the key is never
 *   emptied and keeps the TTL create and touch give it.
 * So the uncontended acquire runs TIME, HMGET, ZADD, HSET and the release
 * HMGET, ZREM, HSET (layout 2: 6 and 5 commands, with LINDEX, PEXPIRE and
 * the owner's HDEL). A function meeting a meta hash of another layout
 * replies 'incompatible' and changes nothing.
 *
 * Ids: an object is "<clientId>/<n>" (clientId: the process's connection),
 * a waiter "<object>/<m>". A grant PUBLISHes "<waiter> <token>" on
 * `ipc:wake:<clientId>`, so a waiter sleeps on its socket, never polls.
 *
 * Fairness (as the shared-memory Semaphore, where anyone may take a free
 * permit until a waiter has waited 2 ms): a free permit is handed to the
 * oldest live waiter once it has waited HANDOFF_MS (2 ms), counted from when
 * it queued or from when the waiter before it gave back the permit it was
 * served (until then: from when it was served), whichever is later
 * (`window`, `served`): the served waiter's wake-up and first hold count as
 * its holding time, not as its barging. Before that, the head is nudged once ("<waiter> 0
 * <bar>": come and claim it; `nudged` remembers it) and a newcomer may take
 * the permit first. bar is the last grant's token plus the permits free at
 * the nudge, and the claim takes a free permit only while the token is below
 * it, that is while a permit free at the nudge was never granted since: with
 * every one of them granted since, a permit free now was taken and given
 * back between the nudge and the claim, by a holder that loops (its next
 * acquire reaches the server one round trip after its release, a woken claim
 * later), and that holder keeps its window instead of losing the permit to
 * the claim at a random point of it (measured: half of all claims took the
 * permit from a looping holder within its first pairs, so a waiter was
 * served about every 1.2 ms instead of every 2). A head whose claim found
 * the permit taken, or all of them granted since, claims again when
 * its 2 ms are up (the claim's reply says when), and is otherwise handed the
 * permit by the first release after that. So each served waiter, once it
 * gives back its first permit, starts a barging window of 2 ms: a holder
 * that releases and acquires again in a loop keeps going for at most 2 ms
 * while others wait (a release costs no wake-up then), and waiters are
 * served oldest first, each within 2 ms per waiter before it plus their
 * holding times.
 *
 * Why the count is never exceeded: every function runs atomically on the
 * server; `free + |holders|` only grows by `release` (bounded by `bound`, or
 * 8388607) and a lapsed lease moves one holder back to `free`. A holder
 * whose lease lapsed is told so by its next renew (`lost`), and its release
 * does not add a permit (`lost`), so a late release cannot create one.
 *
 * Leases: a holder's object renews its tokens every lease/3; a process that
 * dies or is cut off stops renewing, and `settle` gives its permits back
 * once the lease ends, by the server's clock (TIME). settle runs in every
 * call that needs a permit (an acquire finding none free, a claim), every
 * hand-off to a waiter, and every renew; a waiter's object renews again at
 * the next lease end (renew's reply), so a lapsed lease is swept within
 * about one lease even when the calls in between take free permits and skip
 * it (acquire_free, release_free: until then the lapsed holder still counts
 * as held, so no permit is created early). Waiters renew their queue entries the same way, so a dead
 * waiter never blocks the queue. Keys of a non-persistent semaphore carry a
 * TTL of `idle` ms (3 leases), set when a key is made and renewed by every
 * object's renew (every lease/3), so a semaphore whose processes all
 * died disappears.
 */
import { defineLibrary } from '@ipc/core/redis'

/** Number of keys every function takes. */
export const KEY_COUNT = 6

/** The parts of the key names, in KEYS order. */
export const KEY_PARTS = ['meta', 'holders', 'queue', 'waiters', 'grants', 'objects'] as const

/**
 * How long (ms) a waiter waits before the next free permit is handed to it;
 * before, a newcomer may barge. The most a 'queued' claim reply ever asks a
 * waiter to wait before it claims again.
 */
export const HANDOFF_MS = 2

/**
 * Version 11: a head whose wait starts in the future (its `since`, or the
 * meta's `window`: a server clock stepped back, or a field another program
 * wrote) counts as having waited HANDOFF_MS (`waited_since`), so it is
 * served. v10 counted it young until then, and a claim reply told it to
 * wait that long: up to days, or, past 2^31 ms, a claim every millisecond.
 * Same keys as v7 to v10.
 *
 * Version 10: an RLock is entered again in the client only (it counts the
 * levels; the server holds the lock once): `acquire` takes no re-entry token
 * (a claim's bar is now its 7th argument) and never replies 'reentered', and
 * a lock's `release` always frees it (v9 counted re-entries in `depth`, so
 * one whose reply was lost left a level that no release of the holder undid).
 * Same keys as v7 to v9.
 *
 * Version 9: `renew` and `close` take an `orphans` flag before the waiter
 * count. With '1' (the object lost a reply) `renew` also replies the grants
 * of the object that it did not name (a reply lost with a connection; the
 * client gives them back), and `close` gives them back, reclaim or not (v8
 * left them held until their lease lapsed, and for good without reclaim).
 * Same keys as v7 and v8.
 *
 * Version 8: `close` also gives back a grant handed to one of the closing
 * object's waiters whose wake-up it had not heard yet (v7 left it held until
 * its lease lapsed, and for good without reclaim); a lapse or a close no
 * longer raises a Semaphore's free count past MAX (`give_back`). Same keys
 * as v7.
 *
 * Version 7: key layout 3 (holders members name their object, the `queued`
 * count, the `keep` member of holders; see above), which v4 to v6 refuse as
 * 'incompatible', as v7 refuses theirs.
 *
 * Version 6: waiter ids are checked and routed by core's `ipc_waiter_ok` and
 * `ipc_channel_of` instead of v5's own copies, which also let the object
 * part hold a '/' (no client makes one). Same keys as v4 and v5, which share
 * a semaphore with it.
 */
export const SEMAPHORE_LIBRARY = defineLibrary(
  'semaphore',
  11,
  `
local MAX = 8388607
-- The last token a grant may take: tokens reach clients as safe integers (below 2^53), and a
-- double counts exactly only up to there. A meta hash holding more is corrupt.
local MAX_TOKEN = 9007199254740990

-- The range rules of the meta hash's numbers (nil: missing or not a number): a count (free,
-- bound, depth) is an integer 0..MAX, a token an integer 0..MAX_TOKEN. A function meeting
-- another value replies 'corrupt' (open) and changes nothing; the fast paths leave it to open.
local function count_ok(x) return x ~= nil and x >= 0 and x <= MAX and x % 1 == 0 end
local function token_ok(x) return x ~= nil and x >= 0 and x <= MAX_TOKEN and x % 1 == 0 end
-- A waiter that has waited this long (ms) is handed the next free permit; before, a newcomer may barge.
local HANDOFF_MS = ${HANDOFF_MS}
-- The layout of the keys (the meta hash's version field): 3 names the object in each holders
-- member, counts the queue (queued) and keeps the holders key alive with KEEP.
local LAYOUT = '3'
-- A release of at most this many tokens reads their waiter fields in the HMGET of the state (release_free).
local FAST_TOKENS = 64

local function is_lock(state) return state.kind == 'lock' or state.kind == 'rlock' end
-- The object of waiter w, '<clientId>/<object>' (w passed ipc_waiter_ok).
local function owner_of(w) return string.match(w, '^(.*)/[^/]*$') end
-- A token as text: a Lua number is written with all its digits (Lua's own tostring and '..'
-- use %.14g, which would write 10^14 as '1e+14', a member no release could name). A string (a
-- token as a client sent it) is used as it is.
local function token_text(token)
  if type(token) == 'number' then return string.format('%.0f', token) end
  return token
end
-- The member of holders for token granted to object: '<token>|<object>'. A release or renew names
-- the member from its own object id, so it finds only the tokens granted to that object; another
-- object's are left alone and add nothing.
local function member(token, object) return token_text(token) .. '|' .. object end
-- The token of a holders member (nil: KEEP, or a member no grant made).
local function token_of(m) return string.match(m, '^(%d+)|') end

-- The waiter field of token in the meta hash: the waiter a grant was handed to (only such grants
-- have one), so that its entry in grants goes with the grant.
local function waiter_field(token) return 'w:' .. token_text(token) end

-- The meta hash's fields: m[i] holds META[i] (m: read_meta), m[13] on the waiter fields read with them.
local META = {'kind', 'free', 'bound', 'persistent', 'reclaim', 'depth', 'token', 'window', 'nudged', 'served',
  'version', 'queued'}
-- The fields (positions in META) release_free reads when nobody is queued: each field an HMGET
-- returns costs about 0.15 µs, a second HMGET about 0.7 µs (Redis 7.0). The commonest calls
-- (acquire, and release_one: one token), queued or not, read theirs with a literal HMGET instead
-- of read_meta, whose tables and loops cost about 1.5 µs of Lua per call.
local RELEASE_FIELDS = {1, 2, 3, 11}
-- The member of the holders key that keeps it from ever being emptied (score +inf, no token):
-- the key keeps the TTL create and touch give it, so granting a permit need not set one (layout
-- 3; layout 2 set it on every acquire, as the key went with its last holder).
local KEEP = 'keep'

-- Reads, in one HMGET, the meta fields at positions 'at' into m (a new table when nil), or with
-- 'at' nil every field m does not hold yet, then the waiter fields of tokens[first..] (tokens nil
-- or false: none) into m[13..]. Returns m.
local function read_meta(keys, at, tokens, first, m)
  m = m or {}
  local fields, into = {}, {}
  if at then
    for _, i in ipairs(at) do fields[#fields + 1] = META[i]; into[#into + 1] = i end
  else
    for i = 1, #META do
      if m[i] == nil then fields[#fields + 1] = META[i]; into[#into + 1] = i end
    end
  end
  if tokens then
    for i = first, #tokens do fields[#fields + 1] = waiter_field(tokens[i]); into[#into + 1] = 13 + i - first end
  end
  if #fields == 0 then return m end
  local values = redis.call('HMGET', keys[1], unpack(fields))
  for i = 1, #fields do m[into[i]] = values[i] end
  return m
end

-- The state, or nil and the reply for a missing or foreign key. m: read_meta(keys) (every
-- field), when the caller read it already.
local function open(keys, kind, idle, m)
  m = m or read_meta(keys)
  if not m[1] then return nil, {'missing'} end
  if m[1] ~= kind then return nil, {'incompatible', m[1]} end
  if m[11] ~= LAYOUT then return nil, {'incompatible', m[1] .. ' of another @ipc release (layout ' .. tostring(m[11]) .. ')'} end
  local state = { kind = m[1], free = tonumber(m[2]), bound = tonumber(m[3]), persistent = m[4] == '1',
                  reclaim = m[5] == '1', depth = tonumber(m[6]) or 0, token = tonumber(m[7]) or 0,
                  window = tonumber(m[8]) or 0, nudged = m[9] or '', served = m[10] or '', queued = tonumber(m[12]) }
  -- Range checks: a garbled hash (another program wrote it) is reported, never computed with.
  if not count_ok(state.free) or not count_ok(state.bound) or not count_ok(state.depth)
    or not token_ok(state.token) or not token_ok(state.queued) then
    return nil, {'corrupt', 'meta'}
  end
  state.saved = { state.free, state.depth, state.token, state.window, state.nudged, state.served, state.queued }
  state.idle = tonumber(idle) or 0
  return state, nil
end

-- Writes back what changed, in one HSET.
local function save(keys, state)
  local saved = state.saved
  local fields = {}
  if state.free ~= saved[1] then fields[#fields + 1] = 'free'; fields[#fields + 1] = state.free end
  if state.depth ~= saved[2] then fields[#fields + 1] = 'depth'; fields[#fields + 1] = state.depth end
  if state.token ~= saved[3] then fields[#fields + 1] = 'token'; fields[#fields + 1] = state.token end
  if state.window ~= saved[4] then fields[#fields + 1] = 'window'; fields[#fields + 1] = state.window end
  if state.nudged ~= saved[5] then fields[#fields + 1] = 'nudged'; fields[#fields + 1] = state.nudged end
  if state.served ~= saved[6] then fields[#fields + 1] = 'served'; fields[#fields + 1] = state.served end
  if state.queued ~= saved[7] then fields[#fields + 1] = 'queued'; fields[#fields + 1] = state.queued end
  if #fields == 0 then return end
  redis.call('HSET', keys[1], unpack(fields))
  state.saved = { state.free, state.depth, state.token, state.window, state.nudged, state.served, state.queued }
end

-- A TTL on keys[a] and keys[b] (not persistent): a key whose last member went was deleted, and
-- is made again now. (create, renew and close renew the TTL of every key; see touch. The holders
-- key is never emptied: see KEEP.)
local function expire(keys, state, a, b)
  if state.persistent then return end
  redis.call('PEXPIRE', keys[a], state.idle)
  redis.call('PEXPIRE', keys[b], state.idle)
end

local function grant(keys, state, now, object, w, lease)
  state.token = state.token + 1
  local token = state.token
  redis.call('ZADD', keys[2], now + lease, member(token, object))
  if w ~= '' then redis.call('HSET', keys[1], waiter_field(token), w) end
  state.free = state.free - 1
  if is_lock(state) then state.depth = 1 end
  return token
end

-- Drops holders member m, and for a grant handed to a waiter its waiter field and grants entry.
local function drop_holder(keys, m)
  redis.call('ZREM', keys[2], m)
  local token = token_of(m)
  if not token then return end
  local w = redis.call('HGET', keys[1], waiter_field(token))
  if w then
    redis.call('HDEL', keys[1], waiter_field(token))
    redis.call('HDEL', keys[5], w)
  end
end

-- A dropped grant's permit goes back (a lock: free again). Lapsed leases and a closing object's
-- permits count only with reclaim (always: a grant nobody saw, given back as a release would);
-- a Semaphore's count never passes MAX (a release that would make it is refused, but a lapse or
-- a close comes unasked: its permit is dropped at MAX, as a value past it would be corrupt).
local function give_back(state, always)
  if is_lock(state) then state.free = 1; state.depth = 0
  elseif (always or state.reclaim) and state.free < MAX then state.free = state.free + 1 end
end

-- How long a head has waited from the later of since and window (server ms). A start in the future
-- (a server clock stepped back, or a window another program wrote) counts as HANDOFF_MS: the head
-- is served then, rather than told to claim again when that time comes (days away, maybe).
local function waited_since(now, since, window)
  local waited = now - math.max(tonumber(since), tonumber(window) or 0)
  if waited < 0 then return HANDOFF_MS end
  return waited
end

-- How long head w (queued at since) has waited, by the fairness rule: from when it queued or
-- from when the last waiter served gave back the permit it was served (until then: from when it
-- was served), whichever is later.
local function waited(state, now, since)
  return waited_since(now, since, state.window)
end

-- Tells head w that free (a count) permits are free: '<w> 0 <bar>', bar = token (the last grant's) + free
-- (the claim it sends back takes a permit only while the token is below bar: see Fairness).
local function nudge_head(w, token, free)
  redis.call('PUBLISH', ipc_channel_of(w), w .. ' 0 ' .. token_text((tonumber(token) or 0) + free))
end

-- A release drops token: if it is the permit the last waiter was served, that waiter's barging
-- window starts now (see waited).
local function restart_window(state, token)
  if state.served ~= '' and token == state.served then state.window, state.served = ipc_now(), '' end
end

-- Lapsed leases give their permits back; free permits go to the queue, oldest first:
-- handed to a waiter that has waited HANDOFF_MS or more (see waited); a younger head is
-- only nudged (nudge_head, once) to come and claim it, and a newcomer may take it first.
local function settle(keys, state, now, nudge)
  local lapsed = redis.call('ZRANGEBYSCORE', keys[2], '-inf', now)
  if #lapsed > 0 then nudge = true end
  for _, m in ipairs(lapsed) do
    drop_holder(keys, m)
    give_back(state, false)
  end
  if state.bound > 0 and state.free > state.bound then state.free = state.bound end
  while state.free > 0 do
    local w = redis.call('LINDEX', keys[3], 0)
    if not w then state.queued = 0; break end
    local entry = redis.call('HGET', keys[4], w)
    local ends, lease, since
    if entry then ends, lease, since = string.match(entry, '^(%d+)|(%d+)|(%d+)$') end
    if not ends or tonumber(ends) <= now or not ipc_waiter_ok(w) then
      -- Cancelled, or its object stopped renewing (or not an id we made): drop it.
      redis.call('LPOP', keys[3])
      state.queued = math.max(0, state.queued - 1)
      if entry then redis.call('HDEL', keys[4], w) end
    elseif waited(state, now, since) >= HANDOFF_MS then
      redis.call('LPOP', keys[3])
      state.queued = math.max(0, state.queued - 1)
      redis.call('HDEL', keys[4], w)
      local token = grant(keys, state, now, owner_of(w), w, tonumber(lease))
      redis.call('HSET', keys[5], w, token)
      expire(keys, state, 5, 5)
      state.window, state.nudged, state.served = now, '', token_text(token)
      redis.call('PUBLISH', ipc_channel_of(w), w .. ' ' .. token_text(token))
    else
      if nudge and state.nudged ~= w then
        state.nudged = w
        nudge_head(w, state.token, state.free)
      end
      break
    end
  end
  save(keys, state)
end

-- Every key's TTL (not persistent): idle ms (3 leases), renewed by each object's renew; so a
-- semaphore whose processes all died disappears.
local function touch(keys, state, idle)
  if state.persistent then return end
  for i = 1, 6 do redis.call('PEXPIRE', keys[i], idle) end
end

-- After a release: the queue gets the permit (settle, with a nudge) when someone waits (head: the
-- queue's first entry, read by the release before it changed anything); else the state is saved
-- and lapsed leases are left for a call that needs a permit (no TIME, no sweep).
local function released(keys, state, head)
  if head then settle(keys, state, ipc_now(), true) else save(keys, state) end
end

local function holds(keys, token, object)
  return token ~= '' and redis.call('ZSCORE', keys[2], member(token, object)) ~= false
end

-- args: kind, object, idle, mode ('new' | 'open' | 'create'), free, bound, persistent, reclaim
register('create', function(keys, args)
  local kind, object, idle, mode = args[1], args[2], tonumber(args[3]), args[4]
  local existing = redis.call('HGET', keys[1], 'kind')
  local status = 'opened'
  if existing then
    if mode == 'new' then return {'exists', existing} end
    if existing ~= kind then return {'incompatible', existing} end
  else
    if mode == 'open' then return {'missing'} end
    redis.call('HSET', keys[1], 'kind', kind, 'version', LAYOUT, 'free', args[5], 'bound', args[6],
      'persistent', args[7], 'reclaim', args[8], 'token', 0, 'depth', 0, 'queued', 0)
    redis.call('ZADD', keys[2], '+inf', KEEP)
    status = 'created'
  end
  local state, err = open(keys, kind, idle)
  if not state then return err end
  local now = ipc_now()
  settle(keys, state, now)
  redis.call('ZADD', keys[6], now + idle, object)
  touch(keys, state, idle)
  return {status, state.persistent and 1 or 0}
end)

-- True when head (the queue's first entry; window: the meta hash's window field as read) is live
-- and has waited less than HANDOFF_MS (see waited): settle would leave a free permit to a
-- newcomer and at most nudge it. False when settle has to decide: the entry was cancelled or
-- lapsed, or the head is due a permit.
local function young_head(keys, window, head, now)
  if not ipc_waiter_ok(head) then return false end
  local entry = redis.call('HGET', keys[4], head)
  if not entry then return false end
  local ends, since = string.match(entry, '^(%d+)|%d+|(%d+)$')
  if not ends or tonumber(ends) <= now then return false end
  return waited_since(now, since, window) < HANDOFF_MS
end

-- The acquire that takes a free permit at once (m: the meta fields kind, free, token, version and
-- window in their read_meta places; head: the queue's first entry or false), without open()'s
-- state table: nobody is queued, or the head is young (barging). The general path would settle
-- first, then grant: with nobody queued it skips settle; with a young head, settle's sweep of
-- lapsed leases is skipped here (they are still counted as held, so no permit is created; the
-- next call that needs a permit, or a renew, sweeps them). Writes what grant + save write (the
-- holders member, whose key keeps its TTL: see KEEP; free, token and a lock's depth in one HSET).
-- Returns nil when the general path is needed (a claim, nothing free, a head settle must serve
-- or drop, or a missing, foreign or garbled meta hash).
local function acquire_free(keys, args, m, head, now)
  if args[6] == 'claim' then return nil end
  local free, token = tonumber(m[2]), tonumber(m[7])
  if m[1] ~= args[1] or m[11] ~= LAYOUT or not count_ok(free) or free < 1 or not token_ok(token) then
    return nil
  end
  if head and not young_head(keys, m[8], head, now) then return nil end
  token = token + 1
  redis.call('ZADD', keys[2], now + tonumber(args[5]), member(token, args[2]))
  if args[1] == 'lock' or args[1] == 'rlock' then
    redis.call('HSET', keys[1], 'free', free - 1, 'token', token, 'depth', 1)
  else
    redis.call('HSET', keys[1], 'free', free - 1, 'token', token)
  end
  return {'granted', token}
end

-- args: kind, object, idle, waiter, lease, mode ('try' | 'wait' | 'claim': a nudged waiter takes the free permit), a claim's bar (from the nudge it answers; '' or none: a claim when its 2 ms are up)
register('acquire', function(keys, args)
  -- Only the fields acquire_free needs (into their places in m; window to tell a young head), the
  -- rest when it does not grant: a literal HMGET costs less than read_meta's tables and loops.
  -- The queue is read only when the count says someone is in it (an empty queue: no LINDEX).
  local r = redis.call('HMGET', keys[1], 'kind', 'free', 'token', 'version', 'window', 'queued')
  local m = {r[1], r[2], nil, nil, nil, nil, r[3], r[5], nil, nil, r[4], r[6]}
  local head = r[6] ~= '0' and redis.call('LINDEX', keys[3], 0)
  local now = ipc_now()
  local fast = acquire_free(keys, args, m, head, now)
  if fast then return fast end
  read_meta(keys, nil, nil, nil, m)
  local state, err = open(keys, args[1], args[3], m)
  if not state then return err end
  local object, idle, w, lease = args[2], tonumber(args[3]), args[4], tonumber(args[5])
  -- A free permit and nobody queued (uncontended): lapsed leases can wait for a call that needs them.
  if state.free == 0 or head then settle(keys, state, now) end
  if args[6] == 'claim' then
    local entry = redis.call('HGET', keys[4], w)
    if not entry then
      local granted = redis.call('HGET', keys[5], w)
      if granted then return {'granted', tonumber(granted)} end
      return {'gone'}
    end
    -- Taken by a newcomer, or (a claim answering a nudge, args[7] its bar) every permit free at
    -- the nudge granted since: claim again when its HANDOFF_MS are up (a release then hands it
    -- over). A free permit here means the head is young: settle would have served it.
    local bar = tonumber(args[7] or '')
    if state.free == 0 or (bar and state.token >= bar) then
      local since = string.match(entry, '|(%d+)$') or now
      return {'queued', math.max(0, HANDOFF_MS - waited(state, now, since))}
    end
    redis.call('HDEL', keys[4], w)
    state.queued = math.max(0, state.queued - redis.call('LREM', keys[3], 0, w))
    local token = grant(keys, state, now, object, w, lease)
    -- A waiter was served: the next one's HANDOFF_MS start now, and again when it gives this permit back.
    state.window, state.nudged, state.served = now, '', token_text(token)
    settle(keys, state, now, true)
    return {'granted', token}
  end
  -- Permits still free after settle: the queue is empty or its head is young (barging allowed).
  if state.free > 0 then
    local token = grant(keys, state, now, object, '', lease)
    save(keys, state)
    return {'granted', token}
  end
  if args[6] == 'try' then
    return {'busy'}
  end
  state.queued = redis.call('RPUSH', keys[3], w)
  redis.call('HSET', keys[4], w, (now + lease) .. '|' .. lease .. '|' .. now)
  expire(keys, state, 3, 4)
  save(keys, state)
  return {'queued'}
end)

-- restart_window for the fast releases (release_free, release_one), which write the meta hash
-- in one HSET of fields: token, given back with a young head, is the permit the last waiter was
-- served (served: the served field as read). With nobody queued the window matters to nobody,
-- and is left as it is.
local function restart_fields(fields, token, served, now)
  if token == served then
    fields[#fields + 1] = 'window'; fields[#fields + 1] = now
    fields[#fields + 1] = 'served'; fields[#fields + 1] = ''
  end
end

-- The end of a fast release (release_free, release_one): fields ({'free', the new count, then
-- any other meta fields}) in one HSET when changed (the count did) or longer, and with head (the
-- queue's first entry, young) settle's nudge: once per head (nudged: the nudged field as read),
-- and only while a permit is free (token: the token field as read, the last grant's).
local function finish_release(keys, fields, changed, head, nudged, token)
  local nudge = head and fields[2] > 0 and nudged ~= head
  if nudge then fields[#fields + 1] = 'nudged'; fields[#fields + 1] = head end
  if changed or #fields > 2 then redis.call('HSET', keys[1], unpack(fields)) end
  if nudge then nudge_head(head, token, fields[2]) end
end

-- A semaphore's release of several tokens (release_one takes one) when nobody is queued or the head is young (m: read_meta with the waiter
-- fields of args[5..], so m[i + 8] is the waiter field of token args[i]; nobody queued: RELEASE_FIELDS only; head: the queue's first entry or false),
-- without open()'s state table: the general path would drop the live tokens, add n minus the
-- lapsed ones, then save (nobody queued) or settle, which with a young head only nudges it once
-- (skipped here: its sweep of lapsed leases, as in acquire_free). A token is live while its
-- holders member is; the ZREM of the member tells (one ZREM per token), and drops it as
-- drop_holder does, with one HDEL of waiter fields and one HDEL of grants for those handed to a
-- waiter. Returns nil when the general path is needed (a lock, more than FAST_TOKENS tokens, a
-- head settle must serve or drop, n permits could exceed the bound or MAX (the general path
-- tells which tokens count before it changes anything), or a missing, foreign or garbled meta hash).
local function release_free(keys, args, m, head)
  if args[1] ~= 'semaphore' and args[1] ~= 'bounded-semaphore' then return nil end
  if #args - 4 > FAST_TOKENS then return nil end
  local free, bound, n = tonumber(m[2]), tonumber(m[3]), tonumber(args[4])
  if m[1] ~= args[1] or m[11] ~= LAYOUT or not count_ok(free) or not count_ok(bound) or not n then
    return nil
  end
  if (bound > 0 and free + n > bound) or free + n > MAX then return nil end
  local now = head and ipc_now()
  if head and not young_head(keys, m[8], head, now) then return nil end
  -- A token lapsed (its member is gone) or granted to another object (no member of this
  -- object's) adds nothing and stays as it is.
  local lapsed, fields, waiter_fields, waiters = 0, {'free', 0}, {}, {}
  for i = 5, #args do
    if redis.call('ZREM', keys[2], member(args[i], args[2])) == 1 then
      local w = m[i + 8]
      if w then waiter_fields[#waiter_fields + 1] = waiter_field(args[i]); waiters[#waiters + 1] = w end
      if head then restart_fields(fields, args[i], m[10], now) end
    else
      lapsed = lapsed + 1
    end
  end
  if #waiters > 0 then
    redis.call('HDEL', keys[1], unpack(waiter_fields))
    redis.call('HDEL', keys[5], unpack(waiters))
  end
  local add = n - lapsed
  fields[2] = free + add
  finish_release(keys, fields, add ~= 0, head, m[9], m[7])
  return {'ok', 0, lapsed}
end

-- release_free for one token (the commonest release), without its tables: the state, the token's
-- waiter field and the queue count in one literal HMGET (when the count says someone is queued:
-- the queue's first entry, head, and if there is one, window, nudged, served and token in a second
-- HMGET); a live token is dropped as drop_holder does. Nobody queued (uncontended) it runs HMGET,
-- ZREM and HSET and makes no table; a young head (a holder that loops while others wait) is
-- handled as release_free handles it. Returns nil when the general path is needed (a lock, a head
-- settle must serve or drop, n permits could exceed the bound or MAX, or a missing, foreign or
-- garbled meta hash): release_free would return nil too.
local function release_one(keys, args)
  local kind = args[1]
  if kind ~= 'semaphore' and kind ~= 'bounded-semaphore' then return nil end
  local token = args[5]
  local r = redis.call('HMGET', keys[1], 'kind', 'free', 'bound', 'version', waiter_field(token), 'queued')
  local free, bound, n = tonumber(r[2]), tonumber(r[3]), tonumber(args[4])
  if r[1] ~= kind or r[4] ~= LAYOUT or not count_ok(free) or not count_ok(bound) or not n
    or (bound > 0 and free + n > bound) or free + n > MAX then
    return nil
  end
  local head = r[6] ~= '0' and redis.call('LINDEX', keys[3], 0)
  local now, q
  if head then
    now = ipc_now()
    q = redis.call('HMGET', keys[1], 'window', 'nudged', 'served', 'token')
    if not young_head(keys, q[1], head, now) then return nil end
  end
  -- A token whose member is gone had lapsed: it was given back then and adds nothing now. Nor
  -- does one granted to another object (no member of this object's): it stays that object's.
  local live = redis.call('ZREM', keys[2], member(token, args[2])) == 1
  local add = live and n or n - 1
  -- A grant handed to a waiter: its waiter field and grants entry go too.
  if live and r[5] then
    redis.call('HDEL', keys[1], waiter_field(token))
    redis.call('HDEL', keys[5], r[5])
  end
  if head then
    local fields = {'free', free + add}
    if live then restart_fields(fields, token, q[3], now) end
    finish_release(keys, fields, add ~= 0, head, q[2], q[4])
  elseif add ~= 0 then
    redis.call('HSET', keys[1], 'free', free + add)
  end
  return {'ok', 0, live and 0 or 1}
end

-- args: kind, object, idle, n, tokens... (tokens this object holds, given back first; a lock: n = 1, one token)
-- Reply: {'ok', 0 (the depth left: a lock's release frees it), tokens that had lapsed} | {'lost'} | {'not-owner'} | {'over-bound', bound} | {'over-max', max}
register('release', function(keys, args)
  if #args == 5 then
    local fast = release_one(keys, args)
    if fast then return fast end
  end
  local head = redis.call('LINDEX', keys[3], 0)
  local m = {}
  if #args ~= 5 then
    -- Nobody queued: only the fields release_free needs (and the waiter fields), the rest when it does not apply.
    m = read_meta(keys, not head and RELEASE_FIELDS or nil, #args - 4 <= FAST_TOKENS and args, 5)
    local fast = release_free(keys, args, m, head)
    if fast then return fast end
  end
  read_meta(keys, nil, nil, nil, m)
  local state, err = open(keys, args[1], args[3], m)
  if not state then return err end
  local object, idle, n = args[2], tonumber(args[3]), tonumber(args[4])
  -- No settle first: a token whose lease lapsed but that no call took back yet was given to
  -- nobody, so releasing it is what the lapse would have done; see released.
  if is_lock(state) then
    local token = args[5] or ''
    if not holds(keys, token, object) then
      return {token == '' and 'not-owner' or 'lost'}
    end
    drop_holder(keys, member(token, object))
    restart_window(state, token)
    state.free = 1
    state.depth = 0
    released(keys, state, head)
    return {'ok', 0, 0}
  end
  -- A token whose lease lapsed was given back then: it adds nothing now; nor does one granted
  -- to another object (holds), which stays that object's.
  local live, lapsed = {}, 0
  for i = 5, #args do
    if holds(keys, args[i], object) then live[#live + 1] = args[i] else lapsed = lapsed + 1 end
  end
  local add = n - lapsed
  if state.bound > 0 and state.free + add > state.bound then
    return {'over-bound', state.bound}
  end
  if state.free + add > MAX then
    return {'over-max', MAX}
  end
  for _, token in ipairs(live) do
    drop_holder(keys, member(token, object))
    restart_window(state, token)
  end
  state.free = state.free + add
  released(keys, state, head)
  return {'ok', 0, lapsed}
end)

-- The most grants one renew names as orphans (the client reads as many; the rest next time).
local MAX_ORPHANS = 1000

-- The tokens (as text) of object's holders members other than those in args[first..] (the
-- tokens it named), in the order of their lease ends, at most most of them. A scan of every
-- holder: only the renews and closes that ask for it (an object that lost a reply) run it.
local function unnamed_tokens(keys, object, args, first, most)
  local named = {}
  for i = first, #args do named[token_text(args[i])] = true end
  local found = {}
  for _, m in ipairs(redis.call('ZRANGE', keys[2], 0, -1)) do
    local token = token_of(m)
    if token and m == member(token, object) and not named[token] then
      if #found == most then break end
      found[#found + 1] = token
    end
  end
  return found
end

-- Renews this object's leases and queue entries; with orphans '1', also names the grants of
-- this object that it did not name, each with the waiter it was handed to ('' for a grant in
-- an acquire's reply): replies the client never read (see semaphore-base.ts, orphans).
-- args: kind, object, idle, lease, orphans ('1' | '0'), waiter count, waiters..., tokens...
-- Reply: {granted (waiter, token, ...), lost tokens, gone waiters, ms to the next lease end or -1, free,
-- orphans (token, waiter or '', ...)}
register('renew', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local object, idle, lease, count = args[2], tonumber(args[3]), tonumber(args[4]), tonumber(args[6])
  local now = ipc_now()
  settle(keys, state, now)
  local granted, lost, gone = {}, {}, {}
  for i = 7, 6 + count do
    local w = args[i]
    local entry = redis.call('HGET', keys[4], w)
    if entry then
      local since = string.match(entry, '|(%d+)$') or now
      redis.call('HSET', keys[4], w, (now + lease) .. '|' .. lease .. '|' .. since)
    else
      local token = redis.call('HGET', keys[5], w)
      if token then
        granted[#granted + 1] = w
        granted[#granted + 1] = tonumber(token)
      else
        gone[#gone + 1] = w
      end
    end
  end
  for i = 7 + count, #args do
    if holds(keys, args[i], object) then
      redis.call('ZADD', keys[2], now + lease, member(args[i], object))
    else
      lost[#lost + 1] = args[i]
    end
  end
  local orphans = {}
  if args[5] == '1' then
    local tokens = unnamed_tokens(keys, object, args, 7 + count, MAX_ORPHANS)
    if #tokens > 0 then
      local fields = {}
      for i, token in ipairs(tokens) do fields[i] = waiter_field(token) end
      local waiters = redis.call('HMGET', keys[1], unpack(fields))
      for i, token in ipairs(tokens) do
        orphans[#orphans + 1] = tonumber(token)
        orphans[#orphans + 1] = waiters[i] or ''
      end
    end
  end
  redis.call('ZADD', keys[6], now + idle, object)
  local first = redis.call('ZRANGE', keys[2], 0, 0, 'WITHSCORES')
  local next_end = -1
  if first[2] and first[1] ~= KEEP then next_end = math.max(0, tonumber(first[2]) - now) end
  touch(keys, state, idle)
  return {granted, lost, gone, next_end, state.free, orphans}
end)

-- args: kind, object, idle, waiter
register('cancel', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local w = args[4]
  if redis.call('HDEL', keys[4], w) == 1 then
    state.queued = math.max(0, state.queued - redis.call('LREM', keys[3], 0, w))
    save(keys, state)
    return {'cancelled'}
  end
  local token = redis.call('HGET', keys[5], w)
  if token then return {'granted', tonumber(token)} end
  return {'gone'}
end)

-- args: kind, object, idle
register('value', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local now = ipc_now()
  settle(keys, state, now)
  touch(keys, state, tonumber(args[3]))
  -- The holders key's count less KEEP.
  return {'ok', state.free, state.depth, math.max(0, redis.call('ZCARD', keys[2]) - 1), redis.call('LLEN', keys[3])}
end)

-- Drops token, a live grant of object, as close does: its permit goes back (always, or only with
-- reclaim: give_back), and the served waiter's window restarts if it was that waiter's.
local function close_grant(keys, state, token, object, always)
  drop_holder(keys, member(token, object))
  restart_window(state, token)
  give_back(state, always)
end

-- Detaches an object: gives back its permits, drops its waiters; the last object removes a non-persistent semaphore.
-- args: kind, object, idle, orphans ('1': also give back the grants of the object it does not name), waiter count, waiters..., tokens...
register('close', function(keys, args)
  local state, err = open(keys, args[1], args[3])
  if not state then return err end
  local object, idle, count = args[2], tonumber(args[3]), tonumber(args[5])
  local now = ipc_now()
  for i = 6, 5 + count do
    local w = args[i]
    if redis.call('HDEL', keys[4], w) == 1 then
      state.queued = math.max(0, state.queued - redis.call('LREM', keys[3], 0, w))
    else
      -- Served already (a release or a lapse handed it a permit), its wake-up not yet heard:
      -- nobody will take that grant, so it goes back now, reclaim or not, as a cancel's give-back
      -- would (also when its lease lapsed and no call swept it yet: a release of it counts too).
      local token = redis.call('HGET', keys[5], w)
      if token and holds(keys, token, object) then close_grant(keys, state, token, object, true) end
    end
  end
  for i = 6 + count, #args do
    if holds(keys, args[i], object) then close_grant(keys, state, args[i], object, false) end
  end
  -- Grants of this object that it did not name: their replies never reached it (a lost
  -- connection). Nobody had them: they go back, reclaim or not.
  if args[4] == '1' then
    for _, token in ipairs(unnamed_tokens(keys, object, args, 6 + count, -1)) do
      close_grant(keys, state, token, object, true)
    end
  end
  redis.call('ZREM', keys[6], object)
  -- Objects whose process stopped renewing for 3 leases are gone.
  redis.call('ZREMRANGEBYSCORE', keys[6], '-inf', now)
  settle(keys, state, now, true)
  if not state.persistent and redis.call('ZCARD', keys[6]) == 0 then
    redis.call('DEL', keys[1], keys[2], keys[3], keys[4], keys[5], keys[6])
    return {'removed'}
  end
  touch(keys, state, idle)
  return {'ok'}
end)

-- args: kind. A name unlinked and reused since by another kind is not this object's to delete.
register('unlink', function(keys, args)
  local kind = redis.call('HGET', keys[1], 'kind')
  if kind and kind ~= args[1] then return 0 end
  return redis.call('DEL', keys[1], keys[2], keys[3], keys[4], keys[5], keys[6])
end)
`,
)
