"""The job store's Lua: every check-and-set that must be one step in Redis, each with its KEYS and ARGV spelt out.

Kept apart from :mod:`bot.state.jobs` (which registers and calls them) so each script reads whole, as in rq's
``scripts.py``; key names still come only from :mod:`bot.state.keys`, passed in as KEYS.
"""

from __future__ import annotations

from bot.config.limits import JOB_HISTORY_LENGTH

# Fenced update. KEYS: job, lease, due set, active set, stamp lock, stamp history.
# ARGV: fence, lease token, job id, next due ("" = leave the due set), release ("1" = job is over),
#       keep_lease ("1" = keep the claim), expected state ("" = any), retention in seconds (the TTL a job
#       that is over gets, in this same call: a crash cannot leave it without one), then field/value pairs.
FENCED_UPDATE = """
if redis.call('HGET', KEYS[1], 'fence') ~= ARGV[1] then return 0 end
if ARGV[7] ~= '' and redis.call('HGET', KEYS[1], 'state') ~= ARGV[7] then return 0 end
if #ARGV > 8 then redis.call('HSET', KEYS[1], unpack(ARGV, 9)) end
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3]) end
if ARGV[5] == '1' then
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('SREM', KEYS[4], ARGV[3])
  if redis.call('GET', KEYS[5]) == ARGV[3] then redis.call('DEL', KEYS[5]) end
  redis.call('LPUSH', KEYS[6], ARGV[3])
  redis.call('LTRIM', KEYS[6], 0, HISTORY_LAST_INDEX)
  redis.call('EXPIRE', KEYS[1], ARGV[8])
end
if ARGV[6] ~= '1' and redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1
""".replace("HISTORY_LAST_INDEX", str(JOB_HISTORY_LENGTH - 1))

# Renew. KEYS: job (or a scheduled period), lease. ARGV: fence, token, ttl ms. 1 while the claim is the newest.
# A lease that merely expired is taken back: nobody claimed since (the fence would have moved).
RENEW = """
if redis.call('HGET', KEYS[1], 'fence') ~= ARGV[1] then return 0 end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
"""

# Claim. KEYS: lease, job. ARGV: token, ttl ms. Returns {fence, field, value, ...}, {0} if taken, {-1} if gone.
CLAIM = """
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {0} end
local fence = redis.call('HINCRBY', KEYS[2], 'fence', 1)
local result = redis.call('HGETALL', KEYS[2])
table.insert(result, 1, fence)
return result
"""

# Newest history entry with a status. KEYS: a stamp's history index (sorted by creation time), its entries hash.
# ARGV: the status, lower-cased. Returns {id, entry JSON} of the newest entry whose status matches, or nil:
# one round trip per stamp for the metrics scrape, however many failed backups came after the last good one.
NEWEST_WITH_STATUS = """
local ids = redis.call('ZREVRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then
    local ok, data = pcall(cjson.decode, raw)
    if ok and type(data) == 'table' and type(data['s']) == 'string' and string.lower(data['s']) == ARGV[1] then
      return {id, raw}
    end
  end
end
return nil
"""
