// Repeating groups: "Add a row" clones the group's <template>, numbering the row; "Remove" drops a row.
document.addEventListener('click', function (event) {
  var add = event.target.closest('[data-add-row]');
  if (add) {
    var name = add.getAttribute('data-add-row');
    var template = document.querySelector('template[data-template-for="' + name + '"]');
    var index = parseInt(add.getAttribute('data-next-index') || '0', 10);
    var html = template.innerHTML.split('__i__').join(String(index));
    document.querySelector('[data-repeat="' + name + '"]').insertAdjacentHTML('beforeend', html);
    add.setAttribute('data-next-index', String(index + 1));
  }
  var remove = event.target.closest('[data-remove-row]');
  if (remove) {
    remove.closest('.repeat-row').remove();
  }
});

// htmx requests carry the CSRF token of the page.
document.addEventListener('htmx:configRequest', function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) { event.detail.headers['X-CSRFToken'] = meta.content; }
});

// A failed submit: focus moves to the error summary; each of its links focuses its field.
document.addEventListener('DOMContentLoaded', function () {
  var summary = document.querySelector('[data-error-summary]');
  if (summary) { summary.focus(); }
});
document.addEventListener('click', function (event) {
  var link = event.target.closest('[data-error-link]');
  if (!link) { return; }
  var target = document.getElementById(link.getAttribute('href').slice(1));
  if (target) {
    event.preventDefault();
    target.scrollIntoView({block: 'center'});
    var control = target.matches('input, select, textarea, button') ? target
      : target.querySelector('input:not([type=hidden]), select, textarea');
    if (control && control.tomselect) { control.tomselect.focus(); return; }  // a picker (pickers.js)
    (control || target).focus();
  }
});
document.addEventListener('htmx:afterSwap', function (event) {
  var summary = event.detail.target.querySelector('[data-error-summary]');
  if (summary) { summary.focus(); }
});

// Moments (<time datetime data-when>, pages.moment) are said by the server in the user's time zone.
// Until the user has one (<body data-zone-url>), the browser's zone is saved as theirs, and this page's
// moments are shown in it: the absolute date and time in the text ("at") or in the tooltip (relative ones).
document.addEventListener('DOMContentLoaded', function () {
  var url = document.body.getAttribute('data-zone-url');
  if (!url) { return; }
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (zone && meta) {
    var body = new FormData();
    body.append('csrf_token', meta.content);
    body.append('time_zone', zone);
    body.append('from_browser', '1');
    fetch(url, {method: 'POST', body: body, credentials: 'same-origin'}).catch(function () {});
  }
  var withTime = {weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit',
                  minute: '2-digit', timeZoneName: 'short'};
  var local;
  try { local = new Intl.DateTimeFormat(undefined, withTime); } catch (e) { return; }
  document.querySelectorAll('time[data-when]').forEach(function (el) {
    var mode = el.getAttribute('data-when');
    if (mode === 'date') { return; }
    var at = new Date(el.getAttribute('datetime'));
    if (isNaN(at.getTime())) { return; }
    var text = local.format(at);
    if (mode === 'at') { el.textContent = text; } else { el.title = text; }
  });
});

// A form with data-confirm asks before it is sent (no inline handlers: the Content-Security-Policy blocks them).
document.addEventListener('submit', function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute('data-confirm');
  if (question && !window.confirm(question)) { event.preventDefault(); }
}, true);
