// The dashboard: reads the collector's /api/* for the chosen service and range and draws with Chart.js.
// The service and range live in the URL, so a reload or a shared link shows the same view.
const $ = (id) => document.getElementById(id)
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
const fmt = (n) => Number(n).toLocaleString('en-US')
const RANGES = ['15m', '1h', '6h', '24h', '7d']
const palette = ['#5b9cff', '#ffb454', '#7ee787', '#ff6b6b', '#d2a8ff', '#56d4dd', '#f778ba', '#e3b341', '#a5d6ff', '#bc8cff']
const charts = {}
Chart.defaults.color = '#8f98b3'
Chart.defaults.borderColor = '#28304a'
Chart.defaults.animation = false

const params = new URLSearchParams(location.search)
// `trace`: a trace opened by its root span (`traceId-spanId`), e.g. a caller's from another service.
const state = { service: params.get('service') ?? '', range: RANGES.includes(params.get('range')) ? params.get('range') : '1h', trace: params.get('trace') ?? '' }
$('range').value = state.range

function saveState() {
  const q = new URLSearchParams()
  if (state.service) q.set('service', state.service)
  q.set('range', state.range)
  if (state.trace) q.set('trace', state.trace)
  history.replaceState(null, '', `?${q}`)
}

// Layers keep their colour everywhere: the stacked bars, the legend and the trace timelines.
const LAYER_COLOURS = { app: '#8f98b3', postgresql: '#5b9cff', mysql: '#ffb454', redis: '#ff6b6b', http: '#7ee787' }
function layerColour(layer) {
  if (!layer) return '#3d4766'
  if (LAYER_COLOURS[layer]) return LAYER_COLOURS[layer]
  let h = 0
  for (const ch of layer) h = (h * 31 + ch.charCodeAt(0)) >>> 0
  return palette[4 + (h % (palette.length - 4))]
}
const traceLink = (service, traceId, spanId, text) => `<a href="?${new URLSearchParams({ service, range: state.range, trace: `${traceId}-${spanId}` })}" data-open-trace="${esc(`${service} ${traceId}-${spanId}`)}">${esc(text)}</a>`

/** A trace's rows: the root, with its ids, reason and caller; then each span on the root's timeline, coloured by layer. */
function traceRows(t) {
  const caller = t.parent_span_id
    ? `parent span <b>${esc(t.parent_span_id)}</b>${t.caller ? ` (${esc(t.caller.service)}: ${t.caller.root ? traceLink(t.caller.service, t.trace_id, t.caller.root.span_id, `${t.caller.root.name}, the caller's trace`) : esc(t.caller.name)})` : ' (the caller\'s trace is not in this collector: find it by the trace id)'}`
    : 'no parent: the trace starts here'
  const rows = [`<tr data-trace="${esc(t.trace_id)}" data-span="${esc(t.span_id)}" data-reason="${esc(t.reason)}"><td><b>${esc(t.name)}</b> <span class="tag ${esc(t.reason)}">${esc(t.reason === 'n_plus_one' ? 'N+1' : t.reason)}</span> <span class="muted">${esc(t.attributes['http.response.status_code'] ?? t.attributes['agent.job.outcome'] ?? '')}</span>
    <div class="ids">trace ${esc(t.trace_id)} · ${caller}${t.trace_state ? ` · tracestate ${esc(t.trace_state)}` : ''}</div></td><td></td><td class="num">${t.durationMs}</td><td><div class="timeline"><div style="left:0;width:100%;background:var(--accent)"></div></div></td></tr>`]
  for (const s of t.spans) {
    const callee = s.callee ? ` → ${traceLink(s.callee.service, t.trace_id, s.callee.span_id, `${s.callee.service}: ${s.callee.name}`)}` : ''
    rows.push(`<tr data-layer="${esc(s.layer ?? '')}" class="span"><td class="muted">&nbsp;&nbsp;└ <span class="swatch" style="background:${layerColour(s.layer)}"></span>${esc(s.layer ?? '')} ${esc(s.name)}${s.status_code === 2 ? ` <span class="bad">${esc(s.error ?? 'error')}</span>` : ''}${callee}</td>
      <td class="detail">${esc(s.detail ?? '')}</td><td class="num">${s.durationMs}</td>
      <td><div class="timeline"><div style="left:${(100 * s.offsetMs) / (t.durationMs || 1)}%;width:${(100 * s.durationMs) / (t.durationMs || 1)}%;background:${layerColour(s.layer)}"></div></div></td></tr>`)
  }
  return rows.join('')
}

async function showTrace() {
  const section = $('trace-detail')
  const [traceId, spanId] = state.trace.split('-')
  if (!traceId || !spanId) return void (section.hidden = true)
  const res = await fetch(`/api/trace?trace_id=${encodeURIComponent(traceId)}&span_id=${encodeURIComponent(spanId)}`)
  section.hidden = false
  section.querySelector('tbody').innerHTML = res.ok ? traceRows(await res.json()) : `<tr><td class="muted">trace ${esc(traceId)} (root ${esc(spanId)}) is not in this collector (or past retention)</td></tr>`
}

async function api(path) {
  const res = await fetch(path)
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
  return res.json()
}

// Times on the axis: hours and minutes within a day, the date beyond.
const tick = (v) => (state.range === '7d' ? new Date(v).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit' }) : new Date(v).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }))

function lineChart(id, datasets, unit, from, to) {
  const x = { type: 'linear', min: from, max: to, ticks: { callback: tick, maxTicksLimit: 6 } }
  if (charts[id]) {
    charts[id].data.datasets = datasets
    charts[id].options.scales.x = x
    charts[id].update()
    return
  }
  charts[id] = new Chart($(id), {
    type: 'line',
    data: { datasets },
    options: {
      maintainAspectRatio: false,
      parsing: false,
      scales: { x, y: { beginAtZero: true, title: { display: Boolean(unit), text: unit } } },
      plugins: { legend: { labels: { boxWidth: 10, font: { size: 10 } } } },
    },
  })
}

// Few points are drawn as dots, so a single interval still shows.
const dataset = (label, points, i) => ({ label, data: points, borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], pointRadius: points.length < 30 ? 3 : 0, borderWidth: 2, tension: 0.2 })

/** Keeps the chosen service selected whatever services come and go; one not reporting yet stays listed. */
function fillServices(list) {
  const select = $('service')
  if (!state.service) state.service = list[0] ?? ''
  const names = state.service && !list.includes(state.service) ? [state.service, ...list] : list
  const current = [...select.options].map((o) => o.value).join('\n')
  if (current !== names.join('\n')) select.innerHTML = names.map((s) => `<option value="${esc(s)}">${esc(s)}</option>`).join('')
  select.value = state.service
}

const RUNTIME = [
  ['chart-rt-delay', 'nodejs.eventloop.delay.p99', 'ms', 1],
  ['chart-rt-elu', 'nodejs.eventloop.utilization', '%', 100],
  ['chart-rt-cpu', 'process.cpu.utilization', '%', 100],
  ['chart-rt-heap', 'v8js.memory.heap.used', 'MB', 1 / 1048576],
  ['chart-rt-rss', 'process.memory.usage', 'MB', 1 / 1048576],
  ['chart-rt-gc', 'v8js.gc.duration', 'ms', 1],
]

async function refresh() {
  fillServices(await api('/api/services'))
  saveState()
  const { service, range } = state
  if (!service) return
  const q = `?service=${encodeURIComponent(service)}&range=${range}`
  const [summary, series, rt, procs, traces, errors, layers, nPlusOne, jobs, queues] = await Promise.all(['summary', 'timeseries', 'runtime', 'processes', 'traces', 'errors', 'layers', 'n-plus-one', 'jobs', 'queues'].map((p) => api(`/api/${p}${q}`)))
  if (service !== state.service || range !== state.range) return // the choice changed meanwhile: a newer refresh draws
  const { from, to } = summary

  const total = summary.endpoints.reduce((n, e) => n + e.count, 0)
  const errs = summary.endpoints.reduce((n, e) => n + e.errors, 0)
  $('total-requests').textContent = fmt(total)
  $('total-throughput').textContent = `${(total / ((to - from) / 1000)).toFixed(2)}/s`
  $('total-errors').textContent = total ? `${((100 * errs) / total).toFixed(2)} %` : '–'
  const running = procs.filter((p) => !p.stopped).length
  $('total-processes').textContent = `${fmt(running)}${procs.length > running ? ` (+${procs.length - running} stopped)` : ''}`
  $('total-dropped').textContent = fmt(summary.counters['agent.export.dropped.requests'] ?? 0)

  $('endpoints').tBodies[0].innerHTML = summary.endpoints.map((e) => `<tr data-endpoint="${esc(`${e.method} ${e.route}`)}">
    <td>${esc(e.method)}</td><td class="route">${esc(e.route)}</td><td class="num" data-field="count">${fmt(e.count)}</td><td class="num">${e.perSecond}</td>
    <td class="num ${e.errors ? 'bad' : ''}" data-field="errors">${fmt(e.errors)}</td><td class="num">${e.errorRate} %</td><td class="num">${fmt(e.aborted)}</td>
    <td class="num" data-field="p50">${e.p50}</td><td class="num">${e.p95}</td><td class="num">${e.p99}</td></tr>`).join('')

  const top = series.sort((a, b) => b.points.reduce((n, p) => n + p.count, 0) - a.points.reduce((n, p) => n + p.count, 0)).slice(0, 8)
  const ds = (pick) => top.map((s, i) => dataset(s.endpoint, s.points.map((p) => ({ x: p.t, y: pick(p) })), i))
  lineChart('chart-throughput', ds((p) => p.perSecond), 'requests/s', from, to)
  lineChart('chart-latency', ds((p) => p.p95), 'ms', from, to)
  lineChart('chart-errors', ds((p) => (p.count ? (100 * p.errors) / p.count : 0)), '%', from, to)

  const label = new Map(procs.map((p) => [p.instance_id, `${p.role} ${p.pid}`]))
  for (const [id, name, unit, scale] of RUNTIME) {
    const lines = rt.filter((s) => s.name === name)
    lineChart(id, lines.map((s, i) => dataset(label.get(s.instance_id) ?? s.instance_id.slice(0, 8), s.points.map((p) => ({ x: p.t, y: p.value * scale })), i)), unit, from, to)
  }

  $('processes').tBodies[0].innerHTML = procs.map((p) => `<tr data-role="${esc(p.role)}" data-state="${p.stopped ? 'stopped' : 'running'}" class="${p.stopped ? 'stopped' : ''}">
    <td>${p.stopped ? `stopped ${esc(new Date(p.stoppedAt).toLocaleString())}` : 'running'}</td><td>${esc(p.role)}</td><td class="num">${p.pid}</td><td class="num">${p.ppid}</td>
    <td class="route">${esc(p.instance_id.slice(0, 8))}</td><td class="route">${esc((p.parent_instance_id ?? '').slice(0, 8))}</td><td>${esc(p.framework ?? '')}</td>
    <td class="num">${fmt(p.requests)}</td><td>${esc(new Date(p.last_seen).toLocaleString())}</td></tr>`).join('')

  $('traces').tBodies[0].innerHTML = traces.slice(0, 12).map(traceRows).join('')
  await showTrace()

  // Where the time goes: per endpoint and job, the app's own time and each layer's, as mean per request.
  const seen = [...new Set(layers.flatMap((l) => l.layers.map((x) => x.layer)))]
  $('layers-legend').innerHTML = seen.map((l) => `<span><i style="background:${layerColour(l)}"></i>${esc(l)}</span>`).join('')
  $('layers-note').textContent = layers.length ? '' : '(no agent.layer.* metrics from this service in the range)'
  $('layers').tBodies[0].innerHTML = layers.map((e) => `<tr data-endpoint="${esc(e.endpoint)}" data-kind="${esc(e.kind)}">
    <td class="route">${esc(e.endpoint)}</td><td class="num">${fmt(e.count)}</td><td class="num">${e.meanMs}</td>
    <td><div class="stack">${e.layers.map((l) => `<div data-layer="${esc(l.layer)}" data-mean-ms="${l.meanMs}" data-share="${l.share}" title="${esc(l.layer)}: ${l.meanMs} ms per request, ${l.share} %" style="width:${l.share}%;background:${layerColour(l.layer)}"></div>`).join('')}</div></td>
    <td class="legend">${e.layers.map((l) => `<span>${esc(l.layer)} ${l.meanMs} ms${l.calls ? ` (${l.callsPerRequest} calls)` : ''}</span>`).join('')}</td></tr>`).join('')

  $('n-plus-one').tBodies[0].innerHTML = nPlusOne.map((n) => `<tr data-endpoint="${esc(n.endpoint)}" data-statement="${esc(n.statement)}">
    <td class="route">${esc(n.endpoint)}</td><td><span class="swatch" style="background:${layerColour(n.layer)}"></span>${esc(n.layer)}</td><td class="stmt">${esc(n.statement)}</td>
    <td class="num" data-field="requests">${fmt(n.requests)}</td><td class="num" data-field="share">${n.share} %</td>
    <td>${n.example ? traceLink(service, n.example.trace_id, n.example.span_id, 'trace') : ''}</td></tr>`).join('')

  $('jobs').tBodies[0].innerHTML = jobs.map((j) => `<tr data-job="${esc(j.name)}">
    <td class="route">${esc(j.name)}</td><td>${esc(j.system)}</td><td class="num" data-field="count">${fmt(j.count)}</td><td class="num">${j.perSecond}</td>
    <td class="num">${fmt(j.completed)}</td><td class="num ${j.failed ? 'bad' : ''}" data-field="failed">${fmt(j.failed)}</td><td class="num" data-field="retried">${fmt(j.retried)}</td><td class="num">${fmt(j.stalled)}</td>
    <td class="num" data-field="p50">${j.p50}</td><td class="num">${j.p95}</td><td class="num">${j.p99}</td><td class="num" data-field="wait-mean">${j.waitMean}</td><td class="num">${j.waitP95}</td></tr>`).join('')

  $('queues').tBodies[0].innerHTML = queues.map((qh) => `<tr data-queue="${esc(qh.queue)}">
    <td class="route">${esc(qh.queue || '(no queue)')}</td>${['waiting', 'active', 'delayed', 'failed'].map((st) => `<td class="num ${st === 'failed' && qh.states[st] ? 'bad' : ''}" data-state="${st}">${qh.states[st] === undefined ? '–' : fmt(qh.states[st])}</td>`).join('')}
    <td>${esc(new Date(qh.time).toLocaleString())}</td></tr>`).join('')

  $('errors').tBodies[0].innerHTML = errors.map((e) => `<tr><td><b>${esc(e.type)}</b>: ${esc(e.message)}<pre>${esc(e.stack.split('\n').slice(1, 4).join('\n'))}</pre></td>
    <td class="route">${esc(e.method)} ${esc(e.route)}</td><td class="num">${fmt(e.count)}</td><td>${esc(new Date(e.last_seen).toLocaleString())}</td></tr>`).join('')
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`
  document.body.dataset.ready = 'true'
  document.body.dataset.shown = `${service} ${range}`
}

const run = () => refresh().catch((err) => ($('updated').textContent = err.message))
// A trace link opens the trace here (switching to its service), without leaving the page.
document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[data-open-trace]')
  if (a) {
    ev.preventDefault()
    const [service, trace] = a.dataset.openTrace.split(' ')
    state.service = service
    state.trace = trace
    run()
  } else if (ev.target.id === 'trace-close') {
    ev.preventDefault()
    state.trace = ''
    run()
  }
})
$('service').addEventListener('change', () => ((state.service = $('service').value), run()))
$('range').addEventListener('change', () => ((state.range = $('range').value), run()))
run()
setInterval(run, 3000)
