-- The benchmark's no-op handler: what the pipeline costs before any work.
return {
  on_event = function() end,
}
