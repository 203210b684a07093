// The admin modeler: bpmn-js Modeler with lint as the admin edits, a properties form applied to the
// diagram as it is typed (undoable), save a draft, publish.
//
// Lint comes from two places and is shown as one list and as badges on the elements:
// - bpmn-js-bpmnlint (vendor/modeler-lint.js, bpmnlint's recommended rules) at once on every change;
// - the server's lint (the engine's exact rules, the ones publish applies), ~600 ms after the last change.
// Where the engine has the same rule, its answer replaces the browser's; publish is disabled while
// there are errors.
(function () {
  var app = document.getElementById('modeler-app');
  if (!app) { return; }
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var LINT = window.AimsflowLint || null;
  var SPIFF = 'http://spiffworkflow.org/bpmn/schema/1.0/core';
  var PROPS = ['form', 'assignee_var', 'due_in', 'due_at_var', 'escalation_profile'];
  var SERVER_DELAY = 600;

  var options = { container: '#canvas', keyboard: { bind: true } };
  if (LINT) {
    options.additionalModules = [LINT.module];
    options.linting = { active: false, bpmnlint: LINT.bpmnlint };  // we draw the issues ourselves
  }
  var modeler = new BpmnJS(options);
  window.aimsflowModeler = modeler;  // for the browser tests and the console
  var form = document.getElementById('prop-form');
  var messages = document.getElementById('messages');
  var list = document.getElementById('lint-list');
  var status = document.getElementById('lint-status');
  var publishButton = document.getElementById('btn-publish');
  var baseVersion = parseInt(app.dataset.versionId, 10);

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
  function say(kind, html) { messages.innerHTML = html ? '<div class="alert alert-' + kind + '">' + html + '</div>' : ''; }
  function esc(text) { var d = document.createElement('div'); d.textContent = text == null ? '' : String(text); return d.innerHTML; }
  function isError(p) { return (p.severity || 'error') === 'error'; }

  // ------------------------------------------------------------------ elements in words

  function kindOf(bo) {
    var local = (bo.$type || '').split(':').pop();
    var words = local.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
    var defs = bo.eventDefinitions || [];
    if (defs.length === 1 && /Event$/.test(local)) {
      words = defs[0].$type.split(':').pop().replace('EventDefinition', '').toLowerCase() + ' ' + words;
    }
    return words;
  }
  function labelOf(id) {
    var element = modeler.get('elementRegistry').get(id);
    var bo = element && element.businessObject;
    if (!bo) { return 'the process'; }
    if (bo.$type === 'bpmn:Participant' || bo.$type === 'bpmn:Process') { return 'the process'; }
    return kindOf(bo) + (bo.name ? ' "' + bo.name + '"' : ' without a name');
  }

  // what bpmnlint's rules mean, in words, with the fix (its own messages say neither)
  var RULE_WORDS = {
    'conditional-flows': ['a flow leaving it has no condition and is not the default', 'give the flow a condition or make it the default flow'],
    'end-event-required': ['the process has no end event', 'add an end event where the work is done'],
    'start-event-required': ['the process has no start event', 'add a start event'],
    'fake-join': ['several flows enter it without a gateway, so it runs once per incoming branch', 'join the flows with a gateway in front of it'],
    'label-required': ['it has no name', 'give it a short name that says what happens'],
    'no-disconnected': ['it is not connected to anything', 'connect it with sequence flows, or delete it'],
    'no-duplicate-sequence-flows': ['two sequence flows connect the same elements', 'delete one of them'],
    'no-implicit-split': ['it has several outgoing flows without a gateway', 'split with a gateway, so the diagram says which flows are taken'],
    'no-implicit-end': ['the path stops here without an end event', 'connect it to an end event'],
    'no-implicit-start': ['nothing leads into it, so it never runs', 'connect a flow into it, or delete it'],
    'single-blank-start-event': ['the process has more than one start event without a trigger', 'keep one plain start event'],
    'superfluous-gateway': ['it has one flow in and one out, so it neither chooses nor joins', 'delete it and connect the two flows directly'],
    'no-complex-gateway': ['complex gateways are not supported', 'use an exclusive, inclusive or parallel gateway'],
    'link-event': ['link events are not supported by the engine', 'connect the two places with a sequence flow'],
    'sub-process-blank-start-event': ['a sub-process must begin with one start event without a trigger', 'give it a plain start event'],
    'no-gateway-join-fork': ['the gateway both joins and splits', 'use one gateway to join and a second one to split'],
    'no-inclusive-gateway': ['inclusive gateways are hard to follow', 'use exclusive or parallel gateways where you can'],
    'no-overlapping-elements': ['it overlaps another element', 'move it so both can be read'],
    'superfluous-label': ['it has a label the diagram does not show', 'remove the label'],
    'superfluous-termination': ['a terminate end event is not needed here', 'use a plain end event'],
    'single-event-definition': ['the event has more than one trigger', 'keep one trigger'],
    'event-based-gateway': ['an event-based gateway must lead to catching events or receive tasks only', 'connect it to events that wait'],
    'ad-hoc-sub-process': ['the ad hoc sub-process is modelled in a way that cannot run', 'remove start and end events inside it'],
    'event-sub-process-typed-start-event': ['an event sub-process must start with a trigger (message, timer ...)', 'give its start event a trigger']
  };
  // the engine's names for the checks bpmnlint calls otherwise
  var ALIASES = { 'no-implicit-end': 'dead-end', 'no-implicit-start': 'unreachable', 'no-complex-gateway': 'unsupported-element',
                  'link-event': 'unsupported-event', 'sub-process-blank-start-event': 'sub-process-start' };

  function fromBpmnlint(report) {
    var words = RULE_WORDS[report.rule];
    var id = report.actualElementId || report.id;
    var what = words ? words[0] : String(report.message || '').replace(/^./, function (c) { return c.toLowerCase(); });
    var fix = words ? words[1] : '';
    return { element: id, label: labelOf(id), rule: report.rule, severity: report.category === 'error' ? 'error' : 'warning',
             text: what + (fix ? '; ' + fix : '') + '.', source: 'browser' };
  }

  // ------------------------------------------------------------------ lint state and drawing

  var state = { browser: [], server: [], serverFresh: false, change: 0 };
  var drawn = { markers: [], overlays: [] };

  function engineKnows(rule) { return LINT && LINT.engineRules.indexOf(rule) >= 0; }
  function combined() {
    // a stale answer may name elements deleted since; a fresh one is kept whole (some name what has no shape)
    var server = state.serverFresh ? state.server : state.server.filter(function (p) { return !p.element || shapeId(p.element); });
    var said = {};
    server.forEach(function (p) { said[p.element + ' ' + p.rule] = true; });
    var browser = state.browser.filter(function (p) {
      if (engineKnows(p.rule) && state.serverFresh) { return false; }
      return !said[p.element + ' ' + p.rule] && !said[p.element + ' ' + (ALIASES[p.rule] || p.rule)];
    });
    var all = server.concat(browser);
    all.sort(function (a, b) { return (isError(a) ? 0 : 1) - (isError(b) ? 0 : 1); });
    return all;
  }
  // the shape a problem is drawn on: the element, or the pool of the process it names
  function shapeId(id) {
    var registry = modeler.get('elementRegistry');
    if (registry.get(id)) { return id; }
    var pool = registry.filter(function (e) { return e.businessObject && e.businessObject.processRef && e.businessObject.processRef.id === id; })[0];
    if (pool) { return pool.id; }
    var root = modeler.get('canvas').getRootElement();
    return root && root.businessObject && root.businessObject.id === id ? root.id : null;
  }

  function clearDrawn() {
    var canvas = modeler.get('canvas');
    var overlays = modeler.get('overlays');
    drawn.markers.forEach(function (m) { try { canvas.removeMarker(m[0], m[1]); } catch (e) { /* element gone */ } });
    drawn.overlays.forEach(function (o) { overlays.remove(o); });
    drawn = { markers: [], overlays: [] };
  }

  function render() {
    var problems = combined();
    clearDrawn();
    var canvas = modeler.get('canvas');
    var registry = modeler.get('elementRegistry');
    var byShape = {};
    problems.forEach(function (p) {
      var id = p.element && shapeId(p.element);
      if (id) { (byShape[id] = byShape[id] || []).push(p); }
    });
    Object.keys(byShape).forEach(function (id) {
      var own = byShape[id];
      var error = own.some(isError);
      var element = registry.get(id);
      var marker = error ? 'lint-error' : 'lint-warning';
      if (!element.parent) { return; }  // the process itself: listed only
      canvas.addMarker(id, marker);
      drawn.markers.push([id, marker]);
      var tip = own.map(function (p) { return '<li>' + esc(p.text) + '</li>'; }).join('');
      var html = '<div class="lint-badge ' + (error ? 'lint-badge-error' : 'lint-badge-warning') + '" tabindex="0" role="button"' +
        ' data-testid="lint-badge" data-element="' + esc(id) + '" aria-label="' + esc(labelOf(id)) + ': ' + own.length + ' problem' + (own.length > 1 ? 's' : '') + '">' +
        (error ? '!' : '?') + '<div class="lint-tip" role="tooltip"><strong>' + esc(labelOf(id)) + '</strong><ul>' + tip + '</ul></div></div>';
      drawn.overlays.push(modeler.get('overlays').add(id, 'lint', { position: { top: -10, right: 10 }, scale: false, html: html }));
    });

    list.innerHTML = problems.map(function (p) {
      var where = p.element && shapeId(p.element) ? '<button type="button" class="btn btn-link btn-sm p-0 align-baseline text-start lint-where" data-element="' + esc(p.element) + '"' +
        ' title="select it in the diagram">' + esc(p.label || labelOf(p.element)) + '</button>: '
        : (p.label ? esc(p.label) + ': ' : '');
      var badge = isError(p) ? '<span class="badge text-bg-danger me-1">error</span>' : '<span class="badge text-bg-warning me-1">warning</span>';
      return '<li class="list-group-item" data-severity="' + (isError(p) ? 'error' : 'warning') + '" data-rule="' + esc(p.rule) + '">' + badge + where + esc(p.text || p.message) + '</li>';
    }).join('');
    var errors = problems.filter(isError).length;
    var warnings = problems.length - errors;
    var checking = !state.serverFresh;
    var parts = [];
    if (errors) { parts.push(errors + ' error' + (errors > 1 ? 's' : '')); }
    if (warnings) { parts.push(warnings + ' warning' + (warnings > 1 ? 's' : '')); }
    status.textContent = (parts.length ? parts.join(', ') : (checking ? 'No problems so far' : 'No problems')) + (checking ? ' (checking…)' : '');
    status.className = 'small ' + (errors ? 'text-danger fw-semibold' : warnings ? 'text-body' : 'text-success');
    status.dataset.errors = errors;
    status.dataset.checking = checking ? 'true' : 'false';
    publishButton.disabled = errors > 0;
    publishButton.title = errors ? 'Fix the errors listed under Problems to publish' : '';
  }

  function select(id) {
    var element = modeler.get('elementRegistry').get(shapeId(id) || id);
    if (element) {
      if (element.parent) { modeler.get('selection').select(element); }
      modeler.get('canvas').scrollToElement(element);
    }
  }
  list.addEventListener('click', function (event) {
    var link = event.target.closest('[data-element]');
    if (link) { event.preventDefault(); select(link.getAttribute('data-element')); }
  });
  // a badge's messages open towards the side of the canvas with room for them
  function placeTip(event) {
    var badge = event.target.closest && event.target.closest('.lint-badge');
    if (!badge) { return; }
    var box = document.getElementById('canvas').getBoundingClientRect();
    var at = badge.getBoundingClientRect();
    badge.classList.toggle('tip-left', at.left - box.left > box.width / 2);
  }
  document.getElementById('canvas').addEventListener('mouseover', placeTip);
  document.getElementById('canvas').addEventListener('focusin', placeTip);
  document.getElementById('canvas').addEventListener('click', function (event) {
    placeTip(event);
    var badge = event.target.closest('.lint-badge');
    document.querySelectorAll('.lint-badge.open').forEach(function (b) { if (b !== badge) { b.classList.remove('open'); } });
    if (badge) { badge.classList.toggle('open'); }
  });

  if (LINT) {
    modeler.on('linting.completed', function (event) {
      var issues = [];
      Object.keys(event.issues).forEach(function (id) { issues = issues.concat(event.issues[id].map(fromBpmnlint)); });
      state.browser = issues;
      render();
    });
  }

  var serverTimer = null;
  var serverSeq = 0;
  function serverLint() {
    var seq = ++serverSeq;
    var change = state.change;
    return xml().then(function (current) { return post(app.dataset.lintUrl, { xml: current, base_version_id: baseVersion }); })
      .then(function (res) {
        if (seq !== serverSeq) { return res; }
        if (res.status !== 200) { throw new Error((res.data.error || {}).message || ('the server answered ' + res.status)); }
        state.server = (res.data.problems || []).map(function (p) { p.source = 'server'; return p; });
        state.serverFresh = change === state.change;
        render();
        return res;
      }).catch(function (err) { if (seq === serverSeq) { status.textContent = 'Cannot check: ' + err.message; } });
  }
  function scheduleServerLint() {
    clearTimeout(serverTimer);
    serverTimer = setTimeout(serverLint, SERVER_DELAY);
  }

  // ------------------------------------------------------------------ unsaved changes

  var savedAt = 0;
  function stackIndex() { return modeler.get('commandStack')._stackIdx; }
  function dirty() { return stackIndex() !== savedAt; }
  function showDirty() { document.getElementById('unsaved').hidden = !dirty(); }
  function markSaved() { savedAt = stackIndex(); showDirty(); }
  window.addEventListener('beforeunload', function (event) {
    if (dirty()) { event.preventDefault(); event.returnValue = ''; }
  });

  modeler.on('commandStack.changed', function () {
    state.change++;
    state.serverFresh = false;
    showDirty();
    render();
    scheduleServerLint();
    if (!applying) { fill(selected); }  // undo and redo show in the form
  });

  // ------------------------------------------------------------------ properties, applied as typed

  var selected = null;
  var applying = false;
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
  function editable(element) {
    var bo = element && element.businessObject;
    return !!bo && element.type !== 'label' && /Task$|Event$|CallActivity$/.test(bo.$type);
  }
  function fill(element) {
    selected = editable(element) ? element : null;
    var bo = selected && selected.businessObject;
    document.getElementById('prop-fields').disabled = !bo;
    document.getElementById('prop-element').textContent = bo ? labelOf(bo.id) : 'select a task in the diagram';
    var props = bo ? propertiesOf(bo) : {};
    var name = bo ? (bo.name || '') : '';
    if (form.elements.name.value !== name) { form.elements.name.value = name; }
    PROPS.forEach(function (key) { if (form.elements[key].value !== (props[key] || '')) { form.elements[key].value = props[key] || ''; } });
    describeLadder();
    var rules = (props.sod_rules || '').split(',').map(function (s) { return s.trim(); });
    form.querySelectorAll('input[name="sod_rules"]').forEach(function (box) { box.checked = rules.indexOf(box.value) >= 0; });
  }
  function describeLadder() {
    var select = form.elements.escalation_profile;
    var option = select.options[select.selectedIndex];
    document.getElementById('help-escalation').textContent = option ? option.getAttribute('data-description') : '';
  }
  modeler.on('selection.changed', function (e) { fill(e.newSelection.length === 1 ? e.newSelection[0] : null); });

  // the spiffworkflow:properties of the element set to the form's values, as one undoable command;
  // other extension elements (instructions, operators ...) and other properties are kept
  function applyForm() {
    if (!selected) { return; }
    var bo = selected.businessObject;
    var moddle = modeler.get('moddle');
    var modeling = modeler.get('modeling');
    var current = propertiesOf(bo);
    var values = {};
    PROPS.forEach(function (key) { values[key] = form.elements[key].value.trim(); });
    values.sod_rules = Array.prototype.map.call(form.querySelectorAll('input[name="sod_rules"]:checked'), function (b) { return b.value; }).join(',');
    var merged = {};
    Object.keys(current).forEach(function (key) { merged[key] = current[key]; });
    Object.keys(values).forEach(function (key) { if (values[key]) { merged[key] = values[key]; } else { delete merged[key]; } });
    var name = form.elements.name.value;
    var changedProps = JSON.stringify(merged) !== JSON.stringify(current);
    var changedName = name !== (bo.name || '');
    if (!changedProps && !changedName) { return; }
    applying = true;
    try {
      var update = {};
      if (changedName) { update.name = name; }
      if (changedProps) {
        var ext = bo.extensionElements;
        var others = (ext && ext.values || []).filter(function (e) { return e.$type !== 'spiffworkflow:properties'; });
        var keys = Object.keys(merged);
        var values_ = others.slice();
        if (keys.length) {
          var props = moddle.createAny('spiffworkflow:properties', SPIFF, {});
          props.$children = keys.map(function (key) { return moddle.createAny('spiffworkflow:property', SPIFF, { name: key, value: merged[key] }); });
          values_.unshift(props);
        }
        update.extensionElements = values_.length ? moddle.create('bpmn:ExtensionElements', { values: values_ }) : undefined;
      }
      modeling.updateProperties(selected, update);
    } finally { applying = false; }
  }
  var typingTimer = null;
  form.addEventListener('input', function () { clearTimeout(typingTimer); typingTimer = setTimeout(applyForm, 250); });
  form.addEventListener('change', function () { clearTimeout(typingTimer); describeLadder(); applyForm(); });
  form.addEventListener('submit', function (event) { event.preventDefault(); clearTimeout(typingTimer); applyForm(); });

  // ------------------------------------------------------------------ validate, save, publish

  function flushForm() { clearTimeout(typingTimer); applyForm(); }
  document.getElementById('btn-validate').addEventListener('click', function () {
    flushForm();
    clearTimeout(serverTimer);
    serverLint().then(function (res) {
      if (!res || res.status !== 200) { return; }
      var problems = res.data.problems || [];
      if (res.data.ok && !problems.length) { say('success', '<span data-testid="valid">Valid: no problems.</span>'); }
      else if (res.data.ok) { say('warning', '<span data-testid="valid">Valid.</span> It can be published; the warnings under Problems are recorded with it.'); }
      else { say('danger', 'Not valid yet: fix the errors listed under Problems.'); }
    });
  });

  function saveDraft() {
    flushForm();
    var at = stackIndex();
    return xml().then(function (current) { return post(app.dataset.draftUrl, { xml: current, base_version_id: baseVersion }); }).then(function (res) {
      if (res.status !== 201) { throw new Error((res.data.error || {}).message || ('the server answered ' + res.status)); }
      savedAt = at;
      showDirty();
      document.getElementById('editing').textContent = 'saved as v' + res.data.version + ' (draft)';
      state.server = res.data.problems.map(function (p) { p.source = 'server'; return p; });
      state.serverFresh = at === stackIndex();
      render();
      return res.data;
    });
  }
  document.getElementById('btn-draft').addEventListener('click', function () {
    saveDraft().then(function (data) {
      var versions = ' <a href="' + data.url + '">Versions</a>';
      if (data.problems.some(isError)) { say('warning', 'Saved as draft v' + data.version + '; fix the errors under Problems to publish it.' + versions); }
      else { say('success', 'Saved as draft v' + data.version + '.' + versions); }
    }).catch(function (err) { say('danger', esc(err.message)); });
  });
  publishButton.addEventListener('click', function () {
    saveDraft().then(function (data) {
      if (data.problems.some(isError)) { say('danger', 'Saved as draft v' + data.version + '; not published: fix the errors under Problems.'); return; }
      return post(app.dataset.publishUrl.replace('/0/', '/' + data.version_id + '/'), {}).then(function (res) {
        if (res.status !== 200) {
          var error = res.data.error || {};
          if (error.problems) { state.server = error.problems; render(); say('danger', 'Not published: fix the errors under Problems.'); }
          else { say('danger', esc(error.message || 'the server answered ' + res.status)); }
          return;
        }
        document.getElementById('editing').textContent = 'saved as v' + res.data.version + ' (published)';
        say('success', '<span data-testid="published">Published v' + res.data.version + '.</span> <a href="' + app.dataset.processUrl + '">Versions</a>' +
          (data.problems.length ? ' Its warnings are recorded with it.' : ''));
      });
    }).catch(function (err) { say('danger', esc(err.message)); });
  });

  fetch(app.dataset.xmlUrl, { credentials: 'same-origin' }).then(function (r) { return r.text(); })
    .then(function (text) { return modeler.importXML(text); })
    .then(function () {
      modeler.get('canvas').zoom('fit-viewport');
      markSaved();
      app.setAttribute('data-ready', 'true');
      return serverLint();
    })
    .catch(function (err) { say('danger', 'Cannot open the diagram: ' + esc(err.message)); app.setAttribute('data-ready', 'error'); });
})();
