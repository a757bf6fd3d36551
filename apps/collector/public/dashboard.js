// The dashboard: reads the collector's /api/* and draws with Chart.js.
const $ = (id) => document.getElementById(id)
const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
const fmt = (n) => Number(n).toLocaleString('en-US')
const time = (ms) => new Date(ms).toLocaleTimeString()
const palette = ['#5b9cff', '#ffb454', '#7ee787', '#ff6b6b', '#d2a8ff', '#56d4dd', '#f778ba', '#e3b341', '#a5d6ff', '#bc8cff']
const charts = {}
Chart.defaults.color = '#8f98b3'
Chart.defaults.borderColor = '#28304a'
Chart.defaults.animation = false

async function api(path) {
  const res = await fetch(path)
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
  return res.json()
}

function lineChart(id, datasets, unit) {
  const xs = datasets.flatMap((d) => d.data.map((p) => p.x))
  // At least a minute wide, so one interval sits in the middle rather than on an edge.
  const mid = (Math.min(...xs) + Math.max(...xs)) / 2
  const half = Math.max((Math.max(...xs) - Math.min(...xs)) / 2 + 5000, 30_000)
  const config = {
    type: 'line',
    data: { datasets },
    options: {
      maintainAspectRatio: false,
      parsing: false,
      scales: { x: { type: 'linear', min: mid - half, max: mid + half, ticks: { callback: (v) => time(v), maxTicksLimit: 6 } }, y: { beginAtZero: true, title: { display: Boolean(unit), text: unit } } },
      plugins: { legend: { labels: { boxWidth: 10, font: { size: 10 } } } },
    },
  }
  if (charts[id]) {
    charts[id].data.datasets = datasets
    Object.assign(charts[id].options.scales.x, { min: mid - half, max: mid + half })
    charts[id].update()
  } else {
    charts[id] = new Chart($(id), config)
  }
}

async function refresh() {
  const services = await api('/api/services')
  const select = $('service')
  if (select.options.length !== services.length) select.innerHTML = services.map((s) => `<option>${esc(s)}</option>`).join('')
  const service = select.value || services[0]
  if (!service) return
  const q = `?service=${encodeURIComponent(service)}`
  const [summary, series, procs, traces, errors] = await Promise.all([api(`/api/summary${q}`), api(`/api/timeseries${q}&bucketMs=5000`), api(`/api/processes${q}`), api(`/api/traces${q}`), api(`/api/errors${q}`)])

  const total = summary.endpoints.reduce((n, e) => n + e.count, 0)
  const errs = summary.endpoints.reduce((n, e) => n + e.errors, 0)
  $('total-requests').textContent = fmt(total)
  $('total-throughput').textContent = `${fmt(summary.endpoints.reduce((n, e) => n + e.perSecond, 0).toFixed(1))}/s`
  $('total-errors').textContent = total ? `${((100 * errs) / total).toFixed(2)} %` : '–'
  $('total-processes').textContent = fmt(procs.length)
  $('total-dropped').textContent = fmt(summary.counters['agent.export.dropped.requests'] ?? 0)

  $('endpoints').tBodies[0].innerHTML = summary.endpoints.map((e) => `<tr data-endpoint="${esc(`${e.method} ${e.route}`)}">
    <td>${esc(e.method)}</td><td class="route">${esc(e.route)}</td><td class="num" data-field="count">${fmt(e.count)}</td><td class="num">${e.perSecond}</td>
    <td class="num ${e.errors ? 'bad' : ''}" data-field="errors">${fmt(e.errors)}</td><td class="num">${e.errorRate} %</td><td class="num">${fmt(e.aborted)}</td>
    <td class="num">${e.p50}</td><td class="num">${e.p95}</td><td class="num">${e.p99}</td></tr>`).join('')

  const top = series.sort((a, b) => b.points.reduce((n, p) => n + p.count, 0) - a.points.reduce((n, p) => n + p.count, 0)).slice(0, 8)
  // Few points (a short run) are drawn as dots, so a single interval still shows.
  const ds = (pick) => top.map((s, i) => ({ label: s.endpoint, data: s.points.map((p) => ({ x: p.t, y: pick(p) })), borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], pointRadius: s.points.length < 30 ? 3 : 0, borderWidth: 2, tension: 0.2 }))
  lineChart('chart-throughput', ds((p) => p.count), 'requests')
  lineChart('chart-latency', ds((p) => p.p95), 'ms')
  lineChart('chart-errors', ds((p) => (p.count ? (100 * p.errors) / p.count : 0)), '%')

  $('processes').tBodies[0].innerHTML = procs.map((p) => `<tr data-role="${esc(p.role)}"><td>${esc(p.role)}</td><td class="num">${p.pid}</td><td class="num">${p.ppid}</td>
    <td class="route">${esc(p.instance_id.slice(0, 8))}</td><td class="route">${esc((p.parent_instance_id ?? '').slice(0, 8))}</td><td>${esc(p.framework ?? '')}</td>
    <td class="num">${fmt(p.requests)}</td><td>${time(p.last_seen)}</td></tr>`).join('')

  $('traces').tBodies[0].innerHTML = traces.slice(0, 12).map((t) => {
    const rows = [`<tr data-trace="${esc(t.trace_id)}"><td><b>${esc(t.name)}</b> <span class="muted">${esc(t.attributes['http.response.status_code'] ?? '')}</span></td><td class="num">${t.durationMs}</td><td><div class="bar" style="width:100%"></div></td></tr>`]
    for (const s of t.spans) rows.push(`<tr><td class="muted">&nbsp;&nbsp;└ ${esc(s.name)}</td><td class="num">${s.durationMs}</td><td><div class="bar" style="margin-left:${(100 * s.offsetMs) / t.durationMs}%;width:${(100 * s.durationMs) / t.durationMs}%"></div></td></tr>`)
    return rows.join('')
  }).join('')

  $('errors').tBodies[0].innerHTML = errors.map((e) => `<tr><td><b>${esc(e.type)}</b>: ${esc(e.message)}<pre>${esc(e.stack.split('\n').slice(1, 4).join('\n'))}</pre></td>
    <td class="route">${esc(e.method)} ${esc(e.route)}</td><td class="num">${fmt(e.count)}</td><td>${time(e.last_seen)}</td></tr>`).join('')
  $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`
  document.body.dataset.ready = 'true'
}

$('service').addEventListener('change', refresh)
refresh().catch((err) => ($('updated').textContent = err.message))
setInterval(() => refresh().catch((err) => ($('updated').textContent = err.message)), 3000)
