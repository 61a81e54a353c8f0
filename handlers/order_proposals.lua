-- Keeps the current state of every order proposal: the state snapshot
-- pattern (key = order id, value = the whole proposal); a tombstone deletes.
--   sqlite3 var/eddy.db 'select key, value from order_proposals'
return {
  subscribe = {
    types = { "com.relexsolutions.supply-chain.transactions.order-proposals.v1" },
  },

  on_event = function(ev, ctx)
    if ev.deleted then
      return ctx.delete("order_proposals", ev.key)
    end
    if type(ev.data) ~= "table" then
      error("an order proposal needs its data object, got " .. type(ev.data))
    end
    ctx.upsert("order_proposals", ev.key, ev.data)
  end,
}
