// Searchable pickers: every <select data-picker> (records of a register, people, long lists of choices)
// becomes a Tom Select box: type part of a reference, a title or a name to narrow the list, arrows and
// Enter to choose; a multi picker (<select multiple>) shows its choices as removable chips. The select
// stays in the form and is what is sent, so a page without JavaScript still works.
(function () {
  function init(root) {
    if (typeof TomSelect === 'undefined' || !root || !root.querySelectorAll) { return; }
    root.querySelectorAll('select[data-picker]').forEach(function (select) {
      if (select.tomselect) { return; }
      var multiple = select.multiple;
      var picker = new TomSelect(select, {
        plugins: multiple ? {remove_button: {title: 'Remove'}} : {clear_button: {title: 'Clear'}},
        create: false,
        maxOptions: null,
        refreshThrottle: 0,  // the matches follow each key at once (lists are at most a few hundred)
        allowEmptyOption: false,  // nothing chosen shows the placeholder; Backspace or the clear button empties it
        hidePlaceholder: true,  // a chosen value shows alone
        placeholder: select.getAttribute('data-placeholder') || 'Type to search…',
        searchField: ['text'],
        render: {
          no_results: function () { return '<div class="no-results">Nothing matches</div>'; }
        }
      });
      // the select stays (it is what the form sends) and keeps the label's name for assistive technology
      var labelled = picker.control_input.getAttribute('aria-labelledby');
      if (labelled) { select.setAttribute('aria-labelledby', labelled); }
      // the error under the field describes the box people type in, as it did the select
      var described = select.getAttribute('aria-describedby');
      if (described) { picker.control_input.setAttribute('aria-describedby', described); }
      if (select.getAttribute('aria-invalid')) { picker.control_input.setAttribute('aria-invalid', 'true'); }
    });
  }

  document.addEventListener('DOMContentLoaded', function () { init(document); });
  document.addEventListener('htmx:afterSwap', function (event) { init(event.detail.target); });
  // a row added to a repeating group (app.js, loaded first, has cloned its template)
  document.addEventListener('click', function (event) {
    if (event.target.closest('[data-add-row]')) { init(document); }
  });
})();
