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
const state = { service: params.get('service') ?? '', range: RANGES.includes(params.get('range')) ? params.get('range') : '1h' }
$('range').value = state.range

function saveState() {
  const q = new URLSearchParams()
  if (state.service) q.set('service', state.service)
  q.set('range', state.range)
  history.replaceState(null, '', `?${q}`)
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
  const [summary, series, rt, procs, traces, errors] = await Promise.all(['summary', 'timeseries', 'runtime', 'processes', 'traces', 'errors'].map((p) => api(`/api/${p}${q}`)))
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

  $('traces').tBodies[0].innerHTML = traces.slice(0, 12).map((t) => {
    const rows = [`<tr data-trace="${esc(t.trace_id)}"><td><b>${esc(t.name)}</b> <span class="muted">${esc(t.attributes['http.response.status_code'] ?? '')}</span></td><td class="num">${t.durationMs}</td><td><div class="bar" style="width:100%"></div></td></tr>`]
    for (const s of t.spans) rows.push(`<tr><td class="muted">&nbsp;&nbsp;└ ${esc(s.name)}</td><td class="num">${s.durationMs}</td><td><div class="bar" style="margin-left:${(100 * s.offsetMs) / t.durationMs}%;width:${(100 * s.durationMs) / t.durationMs}%"></div></td></tr>`)
    return rows.join('')
  }).join('')

  $('errors').tBodies[0].innerHTML = errors.map((e) => `<tr><td><b>${esc(e.type)}</b>: ${esc(e.message)}<pre>${esc(e.stack.split('\n').slice(1, 4).join('\n'))}</pre></td>
    <td class="route">${esc(e.method)} ${esc(e.route)}</td><td class="num">${fmt(e.count)}</td><td>${esc(new Date(e.last_seen).toLocaleString())}</td></tr>`).join('')
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`
  document.body.dataset.ready = 'true'
  document.body.dataset.shown = `${service} ${range}`
}

const run = () => refresh().catch((err) => ($('updated').textContent = err.message))
$('service').addEventListener('change', () => ((state.service = $('service').value), run()))
$('range').addEventListener('change', () => ((state.range = $('range').value), run()))
run()
setInterval(run, 3000)
