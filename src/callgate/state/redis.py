"""`RedisStore`: counters in Redis, shared by every callgate instance that uses it.

One Lua script call per reservation (every guard and charge of a call in one EVALSHA), so a
decision costs one round trip while the counters it relied on stay inside its guards; a
refused guard returns every guarded value, so the caller judges again without a read.
Commit and rollback are one call each. Redis runs a
script atomically, so many instances enforce one limit exactly.

Key layout (`<key>` is `CounterKey.render()`):
- `callgate:<key>`: a sliding window's events of amount 1 (rate limits), a sorted set
  scored by timestamp with members `<reservation>.<n>`, counted with ZCOUNT (no scan);
  `callgate:<key>#amounts`: its events of any other amount, members `<amount>@<reservation>.<n>`.
  Both are trimmed on write and expire when idle.
- `callgate:<key>@<bucket start>`: a calendar bucket's sum; expires after the bucket ends.
- `callgate:reservation:<id>`: what an uncommitted reservation added (kind, key, member or
  amount triples), so a rollback removes exactly that; deleted on commit, expires with the
  last thing it names.

TTLs are relative (the `now` passed in may come from a fake clock). Amounts travel and are
stored as plain decimal strings and added with exact decimal arithmetic in Lua (Redis's Lua
numbers are doubles), never as floats.

Redis unreachable or failing raises `StoreUnavailable` within the short connect/socket
timeouts; the client reconnects on the next call, so the store recovers when Redis is back.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from callgate.state.admission import validate_charges
from callgate.state.counters import Charge, CounterKey, Guard, WindowKind
from callgate.state.store import Rejection, Reservation, StoreUnavailable
from callgate.state.windows import bucket_end, bucket_start

PREFIX = "callgate:"

# Exact decimal arithmetic on plain decimal strings ("-12.340"), for the scripts below.
DECIMAL_LUA = r"""
local function dec_parse(s)
  local negative = string.sub(s, 1, 1) == '-'
  if negative then s = string.sub(s, 2) end
  local whole, fraction = string.match(s, '^(%d*)%.?(%d*)$')
  if whole == nil then error('not a decimal: ' .. s) end
  local digits = string.gsub(whole .. fraction, '^0+', '')
  return negative, digits, #fraction
end

local function mag_cmp(a, b)
  if #a ~= #b then return (#a < #b) and -1 or 1 end
  if a == b then return 0 end
  return (a < b) and -1 or 1
end

local function mag_add(a, b)
  local out, carry, i, j = {}, 0, #a, #b
  while i > 0 or j > 0 or carry > 0 do
    local x = (i > 0) and (string.byte(a, i) - 48) or 0
    local y = (j > 0) and (string.byte(b, j) - 48) or 0
    local s = x + y + carry
    if s >= 10 then carry = 1; s = s - 10 else carry = 0 end
    out[#out + 1] = string.char(48 + s)
    i = i - 1; j = j - 1
  end
  return string.reverse(table.concat(out))
end

local function mag_sub(a, b)
  local out, borrow, i, j = {}, 0, #a, #b
  while i > 0 do
    local x = string.byte(a, i) - 48 - borrow
    local y = (j > 0) and (string.byte(b, j) - 48) or 0
    if x < y then x = x + 10; borrow = 1 else borrow = 0 end
    out[#out + 1] = string.char(48 + x - y)
    i = i - 1; j = j - 1
  end
  local digits = string.gsub(string.reverse(table.concat(out)), '^0+', '')
  return digits
end

local function dec_format(negative, digits, scale)
  if digits == '' then return '0' end
  if #digits <= scale then digits = string.rep('0', scale - #digits + 1) .. digits end
  local s = digits
  if scale > 0 then
    s = string.sub(digits, 1, #digits - scale) .. '.' .. string.sub(digits, #digits - scale + 1)
  end
  if negative then s = '-' .. s end
  return s
end

local function small_whole(x)
  return #x < 16 and string.find(x, '^-?%d+$') ~= nil
end

local function dec_add(x, y)
  -- Whole numbers below 10^15 add exactly as Lua doubles (the common case: counts).
  if small_whole(x) and small_whole(y) then
    return string.format('%d', tonumber(x) + tonumber(y))
  end
  local xn, xd, xs = dec_parse(x)
  local yn, yd, ys = dec_parse(y)
  local scale = math.max(xs, ys)
  if xd ~= '' then xd = xd .. string.rep('0', scale - xs) end
  if yd ~= '' then yd = yd .. string.rep('0', scale - ys) end
  if xn == yn then return dec_format(xn, mag_add(xd, yd), scale) end
  local c = mag_cmp(xd, yd)
  if c == 0 then return '0' end
  if c > 0 then return dec_format(xn, mag_sub(xd, yd), scale) end
  return dec_format(yn, mag_sub(yd, xd), scale)
end

local function dec_neg(x)
  if string.sub(x, 1, 1) == '-' then return string.sub(x, 2) end
  return '-' .. x
end

local function dec_sign(x)
  if small_whole(x) then
    local n = tonumber(x)
    if n > 0 then return 1 elseif n < 0 then return -1 else return 0 end
  end
  local negative, digits = dec_parse(x)
  if digits == '' then return 0 end
  return negative and -1 or 1
end

local function member_amount(member)
  return string.match(member, '^([^@]*)@')
end

-- The sum of a list of decimal strings; small whole amounts (rate-limit events are all '1')
-- are added as Lua numbers, which stay exact far beyond any window's event count.
local function dec_sum(amounts)
  local whole, total = 0, '0'
  for _, amount in ipairs(amounts) do
    if #amount <= 9 and string.match(amount, '^%d+$') then
      whole = whole + tonumber(amount)
    else
      total = dec_add(total, amount)
    end
  end
  return dec_add(total, string.format('%d', whole))
end

-- A sliding window is two sorted sets scored by timestamp: `key` holds the events of amount
-- exactly 1 (rate limits; counted with ZCOUNT, no scan), `key#amounts` every other event
-- as `<amount>@<id>` (summed by a scan).
local function sliding_cutoff(now, seconds)
  return string.format('(%.17g', now - seconds)
end

local function sliding_total(key, now, seconds)
  local cutoff = sliding_cutoff(now, seconds)
  local units = redis.call('ZCOUNT', key, cutoff, '+inf')
  local others = redis.call('ZRANGEBYSCORE', key .. '#amounts', cutoff, '+inf')
  local amounts = {}
  for i = 1, #others do amounts[i] = member_amount(others[i]) end
  return dec_add(dec_sum(amounts), string.format('%d', units))
end

-- Seconds until `excess` (> 0) worth of the oldest events (then `held`, stamped now) left.
local function sliding_wait(key, now, seconds, excess)
  local cutoff = sliding_cutoff(now, seconds)
  local others = redis.call('ZRANGEBYSCORE', key .. '#amounts', cutoff, '+inf', 'WITHSCORES')
  if #others == 0 and not string.find(excess, '.', 1, true) then
    -- Only unit events: the answer is when the excess-th oldest one leaves.
    local nth = redis.call('ZRANGEBYSCORE', key, cutoff, '+inf', 'WITHSCORES', 'LIMIT',
      tonumber(excess) - 1, 1)
    if #nth == 0 then return seconds end
    return math.max(tonumber(nth[2]) + seconds - now, 0)
  end
  local units = redis.call('ZRANGEBYSCORE', key, cutoff, '+inf', 'WITHSCORES')
  local u, o = 1, 1
  while u <= #units or o <= #others do
    local stamp, amount
    if o > #others or (u <= #units and tonumber(units[u + 1]) <= tonumber(others[o + 1])) then
      stamp, amount, u = tonumber(units[u + 1]), '1', u + 2
    else
      stamp, amount, o = tonumber(others[o + 1]), member_amount(others[o]), o + 2
    end
    excess = dec_add(excess, dec_neg(amount))
    if dec_sign(excess) <= 0 then return math.max(stamp + seconds - now, 0) end
  end
  return seconds
end

local function current_value(kind, key, now, seconds)
  if kind == 's' then return sliding_total(key, now, seconds) end
  return redis.call('GET', key) or '0'
end
"""

# KEYS: reservation, guard keys..., charge keys...
# ARGV: now, reservation id, guard count, charge count,
#       per guard: kind ('s'liding | 'c'alendar), seconds, low, low open ('1' | '0'),
#                  high, high open ('' for an unbounded end);
#       per charge: kind, seconds, amount, limit ('' for none), seconds until bucket end.
# Returns {'ok', guard values after the charges...} | {'stale', guard index, guard values...}
#       | {'limit', charge index, retry_after or ''}.
RESERVE_LUA = (
    DECIMAL_LUA
    + r"""
local now = tonumber(ARGV[1])
local reservation = ARGV[2]
local guard_count = tonumber(ARGV[3])
local charge_count = tonumber(ARGV[4])
-- A retried call (the reply was lost) finds its reservation already made.
if redis.call('EXISTS', KEYS[1]) == 1 then return {'ok'} end

-- Is `value` inside the guard's range? An end is '' (unbounded) or a decimal string.
local function admits(value, bound, open, side)
  if bound == '' then return true end
  local sign = dec_sign(dec_add(value, dec_neg(bound))) * side
  return sign < 0 or (sign == 0 and open == '0')
end

local seen, stale = {}, nil
for g = 1, guard_count do
  local a = 4 + (g - 1) * 6
  local value = current_value(ARGV[a + 1], KEYS[1 + g], now, tonumber(ARGV[a + 2]))
  seen[g] = value
  if stale == nil and not (admits(value, ARGV[a + 3], ARGV[a + 4], -1)
      and admits(value, ARGV[a + 5], ARGV[a + 6], 1)) then
    stale = g
  end
end
if stale ~= nil then
  local reply = {'stale', stale}
  for g = 1, guard_count do reply[2 + g] = seen[g] end
  return reply
end

local first = 4 + guard_count * 6
local held = {}
for c = 1, charge_count do
  local a = first + (c - 1) * 5
  local key = KEYS[1 + guard_count + c]
  local kind, seconds, amount, limit = ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3], ARGV[a + 4]
  local earlier = held[key] or '0'
  if limit ~= '' then
    if dec_sign(dec_add(amount, dec_neg(limit))) > 0 then return {'limit', c, ''} end
    if kind == 's' then
      local total = dec_add(dec_add(sliding_total(key, now, seconds), earlier), amount)
      local excess = dec_add(total, dec_neg(limit))
      if dec_sign(excess) > 0 then
        local wait = sliding_wait(key, now, seconds, excess)
        return {'limit', c, string.format('%.17g', wait)}
      end
    else
      local value = dec_add(redis.call('GET', key) or '0', earlier)
      if dec_sign(dec_add(dec_add(value, amount), dec_neg(limit))) > 0 then
        return {'limit', c, ARGV[a + 5]}
      end
    end
  end
  held[key] = dec_add(earlier, amount)
end

local keep_ms = 0
for c = 1, charge_count do
  local a = first + (c - 1) * 5
  local key = KEYS[1 + guard_count + c]
  local kind, seconds, amount = ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3]
  local ttl_ms
  if kind == 's' then
    local member = reservation .. '.' .. c
    if amount ~= '1' then
      key = key .. '#amounts'
      member = amount .. '@' .. member
    end
    redis.call('ZADD', key, ARGV[1], member)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.17g', now - seconds))
    ttl_ms = math.ceil(seconds * 1000) + 1000
    redis.call('RPUSH', KEYS[1], 'z', key, member)
  else
    redis.call('SET', key, dec_add(redis.call('GET', key) or '0', amount))
    ttl_ms = math.ceil(tonumber(ARGV[a + 5]) * 1000) + 1000
    redis.call('RPUSH', KEYS[1], 'c', key, amount)
  end
  redis.call('PEXPIRE', key, ttl_ms)
  if ttl_ms > keep_ms then keep_ms = ttl_ms end
end
if charge_count > 0 then redis.call('PEXPIRE', KEYS[1], keep_ms) end
local reply = {'ok'}
for g = 1, guard_count do reply[1 + g] = dec_add(seen[g], held[KEYS[1 + g]] or '0') end
return reply
"""
)

# KEYS: reservation. Removes exactly what the reservation added, then the record.
ROLLBACK_LUA = (
    DECIMAL_LUA
    + r"""
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
for i = 1, #entries, 3 do
  local kind, key, payload = entries[i], entries[i + 1], entries[i + 2]
  if kind == 'z' then
    redis.call('ZREM', key, payload)
  else
    local value = redis.call('GET', key)
    if value then redis.call('SET', key, dec_add(value, dec_neg(payload)), 'KEEPTTL') end
  end
end
redis.call('DEL', KEYS[1])
return 1
"""
)

# KEYS: counter keys. ARGV: now, then per key: kind, seconds. Returns each value.
READ_LUA = (
    DECIMAL_LUA
    + r"""
local now = tonumber(ARGV[1])
local values = {}
for k = 1, #KEYS do
  values[k] = current_value(ARGV[k * 2], KEYS[k], now, tonumber(ARGV[k * 2 + 1]))
end
return values
"""
)


class RedisStore:
    """A `CounterStore` in Redis (atomic Lua scripts), shared by many callgate instances."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 1.0,
        socket_timeout: float = 1.0,
        max_connections: int = 32,
    ) -> None:
        self.url = url
        self._shown_url = _without_credentials(url)
        # A bounded pool: a burst of calls queues for a connection instead of opening
        # hundreds at once. One immediate retry on a broken connection (a Redis restart
        # leaves pooled connections dead); every script is idempotent, so a retry never
        # charges twice.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=connect_timeout + socket_timeout,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            decode_responses=True,
        )
        self._client: Redis = Redis.from_pool(pool)
        self._reserve = self._client.register_script(RESERVE_LUA)
        self._rollback = self._client.register_script(ROLLBACK_LUA)
        self._read = self._client.register_script(READ_LUA)
        self._id_prefix = secrets.token_hex(6)
        self._sequence = itertools.count()

    async def read(self, keys: Sequence[CounterKey], now: float) -> dict[CounterKey, Decimal]:
        """Current value of each key in its window at `now` (reserved amounts included)."""
        if not keys:
            return {}
        args: list[str] = [repr(now)]
        for key in keys:
            args += [_kind(key), str(key.window.seconds)]
        values = await self._call(self._read, [_redis_key(key, now) for key in keys], args)
        return {key: Decimal(value) for key, value in zip(keys, values, strict=True)}

    async def reserve(
        self,
        charges: Sequence[Charge],
        guards: Mapping[CounterKey, Guard],
        now: float,
    ) -> Reservation | Rejection:
        """Atomically check every guard and limit, then apply every charge, or none."""
        validate_charges(charges)
        reservation_id = f"{self._id_prefix}-{next(self._sequence)}"
        keys = [PREFIX + "reservation:" + reservation_id]
        args = [repr(now), reservation_id, str(len(guards)), str(len(charges))]
        guard_keys = list(guards)
        for key in guard_keys:
            guard = guards[key]
            keys.append(_redis_key(key, now))
            args += [
                *(_kind(key), str(key.window.seconds)),
                *(_bound(guard.low), "1" if guard.low_open else "0"),
                *(_bound(guard.high), "1" if guard.high_open else "0"),
            ]
        for charge in charges:
            key = charge.key
            keys.append(_redis_key(key, now))
            limit = "" if charge.limit is None else str(charge.limit)
            until_end = repr(float(bucket_end(key.window.seconds, now)) - now)
            args += [_kind(key), str(key.window.seconds), _plain(charge.amount), limit, until_end]
        reply = await self._call(self._reserve, keys, args)
        if reply[0] == "ok":
            values = _values(guard_keys, reply[1:])
            return Reservation(id=reservation_id, charges=tuple(charges), values=values)
        if reply[0] == "stale":
            fresh = _values(guard_keys, reply[2:])
            return Rejection(charge=None, stale_key=guard_keys[int(reply[1]) - 1], fresh=fresh)
        retry_after = float(reply[2]) if reply[2] != "" else None
        return Rejection(charge=charges[int(reply[1]) - 1], retry_after=retry_after)

    async def commit(self, reservation: Reservation, now: float) -> None:
        """Make a reservation permanent (the upstream call succeeded)."""
        try:
            await self._client.delete(PREFIX + "reservation:" + reservation.id)
        except (RedisError, OSError) as error:
            raise self._unavailable(error) from error

    async def rollback(self, reservation: Reservation, now: float) -> None:
        """Undo a reservation; a no-op when it was already committed or rolled back."""
        await self._call(self._rollback, [PREFIX + "reservation:" + reservation.id], [])

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _call(self, script: Any, keys: list[str], args: list[str]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError) as error:
            raise self._unavailable(error) from error

    def _unavailable(self, error: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"Redis state store at {self._shown_url} is unavailable: {error}")


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def _kind(key: CounterKey) -> str:
    return "s" if key.window.kind is WindowKind.SLIDING else "c"


def _redis_key(key: CounterKey, now: float) -> str:
    if key.window.kind is WindowKind.SLIDING:
        return PREFIX + key.render()
    return f"{PREFIX}{key.render()}@{bucket_start(key.window.seconds, now)}"


def _values(keys: Sequence[CounterKey], replied: Sequence[str]) -> dict[CounterKey, Decimal]:
    """The guarded values a script returned (none when a retried call found its
    reservation already made)."""
    if len(replied) != len(keys):
        return {}
    return {key: Decimal(value) for key, value in zip(keys, replied, strict=True)}


def _bound(bound: Decimal | None) -> str:
    return "" if bound is None else _plain(bound)


def _plain(amount: Decimal) -> str:
    """The amount as a plain decimal string (no exponent), as the Lua arithmetic reads it."""
    if not amount.is_finite():
        raise ValueError(f"counter amounts must be finite decimals, got {amount}")
    return format(amount, "f")
