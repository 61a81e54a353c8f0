-- eddy.iter: the pairs and next that every table walk in eddy's Lua state
-- uses, eddy's own modules and the handlers' sandbox alike.
--
-- Why: eddy links a LuaJIT built with LUAJIT_ENABLE_CHECKHOOK (so CPU
-- limits hold inside compiled code). In that build a hot pairs loop never
-- ends once compiled:
--
--   local t = { a = 1 } for i = 1, 1000 do for k, v in pairs(t) do end end
--
-- A pairs/next loop runs as the ITERN bytecode when its iterator is the
-- built-in next. ITERN has its own loop detection (lj_record.c, rec_itern:
-- "J->cur.nins > REF_FIRST"), and the hook check the build emits at the
-- start of every trace already counts as recorded instructions, so the
-- trace is closed as a loop before its body is recorded: an empty loop
-- that spins forever.
--
-- The iterator below is a Lua function, not the built-in next, so the VM
-- turns such loops into the generic ITERC form, which the JIT compiles
-- correctly (calling next inside). A flat pairs loop costs about twice as
-- much as ITERN on a stock LuaJIT; nothing hangs. These can go once the
-- LuaJIT build's rec_itern is fixed.

local error, type = error, type
local raw_next = next

local _M = {}

-- next(t [, k]), as the built-in.
function _M.next(t, k)
	return raw_next(t, k)
end
local iter_next = _M.next

-- pairs(t), as the built-in (no __pairs in Lua 5.1).
function _M.pairs(t)
	if type(t) ~= "table" then
		error("bad argument #1 to 'pairs' (table expected, got " .. type(t) .. ")", 2)
	end
	return iter_next, t, nil
end

return _M
