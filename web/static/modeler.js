// The admin modeler: bpmn-js Modeler, a properties form for the selected task (applied on the server
// with lxml, so other extension elements survive), validate (engine lint), save a draft, publish.
(function () {
  var app = document.getElementById('modeler-app');
  if (!app) { return; }
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var modeler = new BpmnJS({ container: '#canvas', keyboard: { bindTo: document } });
  var form = document.getElementById('prop-form');
  var messages = document.getElementById('messages');
  var selected = null;
  var marked = [];
  var PROPS = ['form', 'assignee_var', 'due_in', 'due_at_var', 'escalation_profile'];

  function post(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRFToken': csrf },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { status: r.status, data: data }; });
    });
  }
  function xml() { return modeler.saveXML({ format: true }).then(function (r) { return r.xml; }); }
  var baseVersion = parseInt(app.dataset.versionId, 10);
  function say(kind, html) { messages.innerHTML = '<div class="alert alert-' + kind + '">' + html + '</div>'; }
  function esc(text) { var d = document.createElement('div'); d.textContent = text == null ? '' : String(text); return d.innerHTML; }

  function clearMarks() {
    var canvas = modeler.get('canvas');
    marked.forEach(function (m) { try { canvas.removeMarker(m[0], m[1]); } catch (e) { /* element gone */ } });
    marked = [];
  }
  function isError(p) { return (p.severity || 'error') === 'error'; }
  // each problem: the element in words (a link that selects it), its id, what is wrong and the fix
  function showProblems(problems, title, extra) {
    clearMarks();
    var canvas = modeler.get('canvas');
    var registry = modeler.get('elementRegistry');
    var items = problems.map(function (p) {
      var marker = isError(p) ? 'lint-error' : 'lint-warning';
      if (p.element && registry.get(p.element)) { canvas.addMarker(p.element, marker); marked.push([p.element, marker]); }
      var where = p.element ? '<a href="#" data-element="' + esc(p.element) + '">' + esc(p.label || 'element') + '</a> <code>' + esc(p.element) + '</code>: '
                            : (p.file ? esc(p.file) + ': ' : '');
      var badge = isError(p) ? '' : '<span class="badge text-bg-warning">warning</span> ';
      return '<li data-severity="' + esc(p.severity || 'error') + '">' + badge + where + esc(p.text || p.message) + '</li>';
    });
    var kind = problems.some(isError) ? 'danger' : 'warning';
    say(kind, (extra || '') + '<strong>' + esc(title) + '</strong><ul class="mb-0 small" data-testid="problems">' + items.join('') + '</ul>');
  }
  messages.addEventListener('click', function (event) {
    var link = event.target.closest('[data-element]');
    if (!link) { return; }
    event.preventDefault();
    var element = modeler.get('elementRegistry').get(link.getAttribute('data-element'));
    if (element) { modeler.get('selection').select(element); modeler.get('canvas').scrollToElement(element); }
  });

  function propertiesOf(bo) {
    var out = {};
    var ext = bo.extensionElements && bo.extensionElements.values || [];
    ext.forEach(function (e) {
      if (e.$type === 'spiffworkflow:properties') {
        (e.$children || e.values || []).forEach(function (p) { if (p.name) { out[p.name] = p.value || ''; } });
      }
    });
    return out;
  }
  function fill(element) {
    selected = element;
    var bo = element && element.businessObject;
    var editable = bo && /Task$|Event$|CallActivity$/.test(bo.$type);
    document.getElementById('btn-apply').disabled = !editable;
    document.getElementById('prop-element').textContent = editable ? bo.id : 'select a task';
    var props = editable ? propertiesOf(bo) : {};
    form.elements.name.value = editable ? (bo.name || '') : '';
    PROPS.forEach(function (key) { form.elements[key].value = props[key] || ''; });
    var rules = (props.sod_rules || '').split(',').map(function (s) { return s.trim(); });
    form.querySelectorAll('input[name="sod_rules"]').forEach(function (box) { box.checked = rules.indexOf(box.value) >= 0; });
  }
  modeler.on('selection.changed', function (e) { fill(e.newSelection.length === 1 ? e.newSelection[0] : null); });

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (!selected) { return; }
    var id = selected.businessObject.id;
    var values = {};
    PROPS.forEach(function (key) { values[key] = form.elements[key].value; });
    values.sod_rules = Array.prototype.map.call(form.querySelectorAll('input[name="sod_rules"]:checked'), function (b) { return b.value; }).join(',');
    var viewbox = modeler.get('canvas').viewbox();
    xml().then(function (current) {
      return post(app.dataset.propertiesUrl, { xml: current, base_version_id: baseVersion, element: id, values: values, name: form.elements.name.value });
    }).then(function (res) {
      if (res.status !== 200) { throw new Error((res.data.error || {}).message || ('HTTP ' + res.status)); }
      return modeler.importXML(res.data.xml);
    }).then(function () {
      modeler.get('canvas').viewbox(viewbox);
      var element = modeler.get('elementRegistry').get(id);
      if (element) { modeler.get('selection').select(element); }
      say('info', 'Properties of <code>' + esc(id) + '</code> applied. Validate, then save or publish.');
    }).catch(function (err) { say('danger', esc(err.message)); });
  });

  document.getElementById('btn-validate').addEventListener('click', function () {
    xml().then(function (current) { return post(app.dataset.lintUrl, { xml: current, base_version_id: baseVersion }); }).then(function (res) {
      var problems = res.data.problems || [];
      if (res.data.ok && !problems.length) { clearMarks(); say('success', '<span data-testid="valid">Valid: no lint problems.</span>'); }
      else if (res.data.ok) { showProblems(problems, 'It can be published; lint warns:', '<span data-testid="valid">Valid.</span> '); }
      else { showProblems(problems, 'Lint found problems:'); }
    });
  });

  function saveDraft() {
    return xml().then(function (current) { return post(app.dataset.draftUrl, { xml: current, base_version_id: baseVersion }); }).then(function (res) {
      if (res.status !== 201) { throw new Error((res.data.error || {}).message || ('HTTP ' + res.status)); }
      return res.data;
    });
  }
  document.getElementById('btn-draft').addEventListener('click', function () {
    saveDraft().then(function (data) {
      if (data.problems.some(isError)) { showProblems(data.problems, 'Saved as draft v' + data.version + ', but it cannot be published yet:'); }
      else if (data.problems.length) { showProblems(data.problems, 'Saved as draft v' + data.version + '; lint warns:'); }
      else { clearMarks(); say('success', 'Saved as draft v' + data.version + '. <a href="' + data.url + '">Versions</a>'); }
    }).catch(function (err) { say('danger', esc(err.message)); });
  });
  document.getElementById('btn-publish').addEventListener('click', function () {
    saveDraft().then(function (data) {
      if (data.problems.some(isError)) { showProblems(data.problems, 'Saved as draft v' + data.version + '; not published:'); return; }
      return post(app.dataset.publishUrl.replace('/0/', '/' + data.version_id + '/'), {}).then(function (res) {
        if (res.status !== 200) {
          var error = res.data.error || {};
          if (error.problems) { showProblems(error.problems, 'Not published:'); } else { say('danger', esc(error.message || 'HTTP ' + res.status)); }
          return;
        }
        var published = '<span data-testid="published">Published v' + res.data.version + '.</span> <a href="' + app.dataset.processUrl + '">Versions</a> ';
        if (data.problems.length) { showProblems(data.problems, 'Recorded warnings:', published); }
        else { clearMarks(); say('success', published); }
      });
    }).catch(function (err) { say('danger', esc(err.message)); });
  });

  fetch(app.dataset.xmlUrl, { credentials: 'same-origin' }).then(function (r) { return r.text(); })
    .then(function (text) { return modeler.importXML(text); })
    .then(function () { modeler.get('canvas').zoom('fit-viewport'); app.setAttribute('data-ready', 'true'); })
    .catch(function (err) { say('danger', 'Cannot open the diagram: ' + esc(err.message)); app.setAttribute('data-ready', 'error'); });
})();
