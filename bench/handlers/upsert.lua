-- The benchmark's handler: the state snapshot pattern, nothing else.
return {
  on_event = function(ev, ctx)
    if ev.deleted then return ctx.delete("orders", ev.key) end
    ctx.upsert("orders", ev.key, ev.data)
  end,
}
