// The floor of any agent built on Node's HTTP diagnostics channels: a subscriber that does nothing
// on each of the two channels @agent listens to. Node builds and publishes each message only
// while a channel has a subscriber (`--modes channels` in instructions.mjs).
import dc from 'node:diagnostics_channel'

dc.subscribe('http.server.request.start', function onRequestStart() {})
dc.subscribe('http.server.response.finish', function onResponseFinish() {})
