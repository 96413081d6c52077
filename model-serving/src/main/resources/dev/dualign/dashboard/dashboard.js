// Polls /api/state and keeps the charts current. Chart.js comes from its WebJar, served locally.
(function () {
  'use strict';
  const colours = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
  const kindColour = { deploy: '#16794a', canary: '#e08e0b', promote: '#16794a', rollback: '#b3261e', retire: '#888', refuse: '#b3261e' };
  const charts = {};
  window.dualignUpdates = 0;

  // versions are integers: no tick at "1.5"
  const integerTicks = { precision: 0, stepSize: 1 };

  function lineChart(id, yTitle, xTitle, opts) {
    opts = opts || {};
    const scales = {
      x: { type: 'linear', title: { display: true, text: xTitle } },
      y: { title: { display: true, text: yTitle }, ticks: opts.yVersions ? integerTicks : {} }
    };
    return new Chart(document.getElementById(id), {
      type: 'line',
      data: { labels: [], datasets: [] },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false, scales: scales,
        plugins: { legend: { position: 'bottom' } }
      }
    });
  }

  function setData(chart, datasets) {
    // replace in place so Chart.getChart(...) keeps the same object for observers
    chart.data.datasets = datasets;
    chart.update('none');
  }

  // version charts use a category axis: version numbers jump (a registry keeps counting across runs)
  // each band is labelled with the interval the job really computes (level and kind: dual.confidence, dual.interval)
  function band(versions, key, label, colour, bandLabel) {
    const col = (f) => versions.map(v => v.estimated[key] ? f(v.estimated[key]) : null).map(y => (y === undefined ? null : y));
    return [
      { label: label + ' lower', data: col(e => e.lo), borderColor: colour + '55', backgroundColor: colour + '22', pointRadius: 0, fill: false },
      { label: label + ' ' + bandLabel, data: col(e => e.hi), borderColor: colour + '55', backgroundColor: colour + '22', pointRadius: 0, fill: '-1' },
      { label: label + ' estimate', data: col(e => e.mean), borderColor: colour, backgroundColor: colour, pointRadius: 4, fill: false }
    ];
  }

  function versionChart(id, yTitle, y2) {
    const scales = { x: { type: 'category', title: { display: true, text: 'policy version' } }, y: { title: { display: true, text: yTitle } } };
    if (y2) scales.y2 = { position: 'right', title: { display: true, text: y2 }, grid: { drawOnChartArea: false } };
    return new Chart(document.getElementById(id), {
      type: 'line', data: { labels: [], datasets: [] },
      options: { animation: false, responsive: true, maintainAspectRatio: false, spanGaps: true, scales: scales,
        plugins: { legend: { position: 'bottom' } } }
    });
  }

  function setVersions(chart, labels, datasets) {
    chart.data.labels = labels;
    setData(chart, datasets);
  }

  function utilityChart(name, bandLabel) {
    if (charts['u:' + name]) return charts['u:' + name];
    const s = document.createElement('section');
    s.innerHTML = '<h2>' + name + ': estimate per version, ' + bandLabel + ' and margin</h2><div class="chart"><canvas id="utility-' + name + '"></canvas></div>';
    document.getElementById('utilityCharts').appendChild(s);
    charts['u:' + name] = versionChart('utility-' + name, name);
    return charts['u:' + name];
  }

  function render(st) {
    document.getElementById('mode').textContent = st.mode;
    document.getElementById('margins').textContent = Object.entries(st.margins).map(([k, v]) => k + ' ≥ ' + (v === null ? '(relative: awaiting the reference)' : v)).join(', ');
    const scorerText = (s) => Object.entries(s || {}).map(([k, v]) => k + ' v' + v).join(', ');
    document.getElementById('scorers').textContent = scorerText(st.scorers) || '–';
    const d = st.deployment;
    document.getElementById('serving').textContent = 'v' + d.stable + (d.canary >= 0 ? ' + canary v' + d.canary + ' (' + Math.round(100 * d.canaryFraction) + '%)' : '');
    const last = st.lambdaPath.length ? st.lambdaPath[st.lambdaPath.length - 1].lambda : null;
    document.getElementById('lambda').textContent = last ? Object.entries(last).map(([k, v]) => k + '=' + v.toFixed(3)).join(', ') : '–';
    document.getElementById('rate').textContent = st.scoredPerSecond.toFixed(0);

    const names = Object.keys(st.margins);
    const t0 = st.startedAt;
    setData(charts.lambda, names.map((n, i) => ({
      label: 'λ ' + n, data: st.lambdaPath.map(p => ({ x: (p.t - t0) / 1000, y: p.lambda[n] })),
      borderColor: colours[i % colours.length], backgroundColor: colours[i % colours.length], stepped: true, pointRadius: 3
    })));

    const versions = st.versions.filter(v => Object.keys(v.estimated).length > 0);
    const labels = versions.map(v => 'v' + v.version);
    names.forEach((n, i) => {
      const c = utilityChart(n, st.bands.constraints);
      const sets = band(versions, n, n, colours[i % colours.length], st.bands.constraints);
      sets.push({ label: 'margin ' + st.margins[n], data: versions.map(() => st.margins[n]),
        borderColor: '#000', borderDash: [6, 4], pointRadius: 0, fill: false });
      if (versions.some(v => v.true[n] !== undefined)) {
        sets.push({ label: 'true (oracle)', data: versions.map(v => (v.true[n] === undefined ? null : v.true[n])),
          borderColor: '#444', backgroundColor: '#fff', pointStyle: 'rectRot', pointRadius: 6, showLine: false });
      }
      setVersions(c, labels, sets);
    });
    const kl = band(versions, 'kl', 'KL', '#9467bd', st.bands.others).map(ds => Object.assign(ds, { yAxisID: 'y2' }));
    setVersions(charts.reward, labels, band(versions, 'reward', 'reward', '#1f77b4', st.bands.others).concat(kl));

    setData(charts.timeline, Object.keys(kindColour).map(kind => ({
      label: kind, data: st.timeline.filter(e => e.kind === kind).map(e => ({ x: (e.timestamp - t0) / 1000, y: e.version })),
      borderColor: kindColour[kind], backgroundColor: kindColour[kind], showLine: false, pointRadius: 6
    })).filter(ds => ds.data.length));

    // header: the dead-letter rate and the fine-tuner's state (when it runs beside the server)
    const dl = st.deadLetters || { total: 0, lastMinute: 0, latest: [] };
    document.getElementById('dlq').textContent = dl.total + ' (' + dl.lastMinute + ' in the last minute)';
    document.getElementById('finetuner').textContent = st.fineTuner === null || st.fineTuner === undefined
      ? 'in another process' : st.fineTuner;

    // versions: state, λ, each constraint's estimate with its band and n, and the oracle's truth when known
    const slot = (v) => v === d.stable ? 'stable' : (v === d.canary ? 'canary' : '');
    const fmt = (x) => (x === null || x === undefined ? '–' : x.toFixed(3));
    document.getElementById('versionsEstimateHead').textContent = 'estimate (' + st.bands.constraints + ')';
    document.getElementById('versions').innerHTML = st.versions.slice().reverse().map(v => {
      // an estimate is of one set of scorers: name them where they are not the ones in the header
      const other = v.scorers && Object.keys(v.scorers).length && scorerText(v.scorers) !== scorerText(st.scorers)
        ? ' (scored by ' + scorerText(v.scorers) + ')' : '';
      const est = names.map(n => v.estimated[n] ? n + ' ' + fmt(v.estimated[n].mean) + ' [' + fmt(v.estimated[n].lo) + ', '
        + fmt(v.estimated[n].hi) + ']' : n + ' –').join('; ') + other;
      const n = names.map(k => (v.estimated[k] ? v.estimated[k].n : 0)).reduce((a, b) => Math.max(a, b), 0);
      const lam = Object.entries(v.lambda || {}).map(([k, x]) => k + '=' + x.toFixed(3)).join(', ');
      const tr = names.map(k => (v.true[k] === undefined ? '' : k + ' ' + fmt(v.true[k]))).filter(x => x).join('; ');
      return '<tr class="version"><td>v' + v.version + '</td><td>' + slot(v.version) + '</td><td>' + escapeHtml(lam)
        + '</td><td>' + escapeHtml(est) + '</td><td class="n">' + n + '</td><td>' + escapeHtml(tr || '–') + '</td></tr>';
    }).join('');

    const alerts = st.alerts.slice(-12).reverse();
    document.getElementById('noAlerts').style.display = alerts.length ? 'none' : '';
    document.getElementById('alerts').innerHTML = alerts.map(a => '<tr class="rollback"><td>' + new Date(a.t).toLocaleTimeString()
      + '</td><td>' + escapeHtml(String(a.kind || 'violation')) + '</td><td>' + (a.version === undefined || a.version < 0 ? '' : 'v' + a.version)
      + '</td><td>' + escapeHtml(a.constraint || '') + '</td><td>' + escapeHtml(a.detail || (a.estimate
        ? 'estimate ' + fmt(a.estimate.mean) + ' [' + fmt(a.estimate.lo) + ', ' + fmt(a.estimate.hi) + '], margin ' + a.margin : ''))
      + '</td></tr>').join('');

    const dead = dl.latest.slice().reverse();
    document.getElementById('noDeadLetters').style.display = dead.length ? 'none' : '';
    document.getElementById('deadLetters').innerHTML = dead.map(x => '<tr><td>' + new Date(x.t).toLocaleTimeString() + '</td><td>'
      + escapeHtml(x.source || '') + '</td><td>' + escapeHtml(x.reason || '') + '</td></tr>').join('');

    const rows = st.timeline.slice(-12).reverse().map(e => '<tr class="' + e.kind + '"><td>' + new Date(e.timestamp).toLocaleTimeString()
      + '</td><td>v' + e.version + '</td><td>' + e.kind + '</td><td>' + escapeHtml(e.detail || '') + '</td></tr>');
    document.getElementById('events').innerHTML = rows.join('');
  }

  function escapeHtml(s) {
    return s.replace(/[&<>"]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
  }

  async function refresh() {
    try {
      const r = await fetch('api/state', { cache: 'no-store' });
      if (!r.ok) throw new Error('HTTP ' + r.status);
      render(await r.json());
      document.getElementById('error').textContent = '';
      window.dualignUpdates++;
    } catch (e) {
      document.getElementById('error').textContent = 'cannot reach the server: ' + e.message;
    }
  }

  charts.lambda = lineChart('lambdaChart', 'λ', 'seconds since start');
  charts.reward = versionChart('rewardChart', 'reward', 'KL (nats)');
  charts.timeline = lineChart('timelineChart', 'version', 'seconds since start', { yVersions: true });
  refresh();
  setInterval(refresh, 2000);
})();
