-- Keeps the proposals that are currently rejected, with where and when,
-- and logs each rejection. Idempotent: replaying the topic gives the same
-- table.
return {
  subscribe = {
    types = { "com.relexsolutions.supply-chain.transactions.order-proposals.*" },
  },

  on_event = function(ev, ctx)
    if ev.deleted or type(ev.data) ~= "table" or ev.data.status ~= "rejected" then
      return ctx.delete("rejected_proposals", ev.key)
    end
    ctx.upsert("rejected_proposals", ev.key, {
      location_id = ev.data.location_id,
      product_id = ev.data.product_id,
      quantity = ev.data.quantity,
      correlation_id = ev.correlation_id,
      rejected_at = ev.time,
    })
    ctx.log("info", "order proposal rejected", { id = ev.id, location = ev.data.location_id })
  end,
}
