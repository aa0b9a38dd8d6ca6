-- bench/checkin/replay.lua: wrk sends the check-ins steward-sim wrote with
-- --replay-out, each exactly once.
--
--   wrk -t T -c C -d 15s -s bench/checkin/replay.lua http://127.0.0.1:PORT -- FILE
--
-- Thread t (0-based) reads FILE.t: steward-sim gave each thread its own
-- clients, in the order of their sequence numbers, so the site accepts
-- every request (sim/README.md, "Replay files"). A request goes out once:
-- wrk does not resend a request whose connection broke, it asks for the
-- next one. When a thread has sent its whole file it stops and says so in
-- done(): the run was too long for the file and its rate is too low.
--
-- The file is read whole in init(), before the thread starts; request()
-- only cuts the next head out of it and appends the body.

local find, sub, byte = string.find, string.sub, string.byte

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

local data, pos, bodies
local health
sent = 0
exhausted = false

function init(args)
   local prefix = args[1]
   if not prefix then
      error("replay.lua: give the replay file after --")
   end
   local path = prefix .. "." .. id
   local f = assert(io.open(path, "rb"))
   data = f:read("*a")
   f:close()
   local e = find(data, "\n", 1, true)
   local nb = tonumber(string.match(sub(data, 1, e), "^steward%-replay 1 bodies=(%d+) "))
   if not nb then
      error("replay.lua: " .. path .. " is not a steward-replay 1 file")
   end
   pos = e + 1
   bodies = {}
   for i = 0, nb - 1 do
      local le = find(data, "\n", pos, true)
      local len = tonumber(sub(data, pos, le - 1))
      bodies[i] = sub(data, le + 1, le + len)
      pos = le + len + 2
   end
   -- sent in place of a check-in once the file is used up (never counted:
   -- the thread stops before its reply is read)
   health = "GET /health HTTP/1.1\r\nHost: " .. wrk.host .. "\r\n\r\n"
end

function request()
   local e = find(data, "\r\n\r\n", pos + 1, true)
   if not e then
      if not exhausted then
         exhausted = true
         wrk.thread:stop()
      end
      return health
   end
   local r = sub(data, pos + 1, e + 3) .. bodies[byte(data, pos) - 48]
   pos = e + 4
   sent = sent + 1
   return r
end

function done(summary, latency, requests)
   local short = 0
   local sent_all = 0
   for _, t in ipairs(threads) do
      sent_all = sent_all + t:get("sent")
      if t:get("exhausted") then
         short = short + 1
      end
   end
   io.write(string.format("replay_sent=%d replay_exhausted_threads=%d\n", sent_all, short))
end
