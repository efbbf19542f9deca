// Updates a <tbody> in place from data rows: rows are keyed, cells change only when their text
// changes, and an action cell is rebuilt only when its signature changes, so polling every 2 s
// neither flickers nor steals the keyboard focus from a button.

/**
 * columns: [{ text: (row) => string, className?: (row) => string, data?: name for data-col,
 *             owned?: (row) => bool (the action builder fills this cell) }]
 * actions: optional { signature: (row) => string, build: (row, td) => void }
 */
export function renderRows(tbody, rows, key, columns, actions) {
  const existing = new Map([...tbody.rows].map((tr) => [tr.dataset.key, tr]));
  let previous = null;
  for (const row of rows) {
    const k = String(key(row));
    let tr = existing.get(k);
    if (tr) {
      existing.delete(k);
    } else {
      tr = document.createElement('tr');
      tr.dataset.key = k;
      for (let i = 0; i < columns.length; i++) {
        const cell = tr.appendChild(document.createElement(i === 0 ? 'th' : 'td'));
        if (i === 0) cell.scope = 'row';
      }
      if (actions) tr.appendChild(document.createElement('td')).className = 'actions';
    }
    columns.forEach((col, i) => {
      const cell = tr.cells[i];
      if (col.owned?.(row)) return; // filled by the action builder (e.g. a role <select>)
      const text = col.text(row) ?? '';
      if (cell.textContent !== text) cell.textContent = text;
      if (col.className) {
        const cls = col.className(row);
        if (cell.className !== cls) cell.className = cls;
      }
      if (col.data) cell.dataset.col = col.data;
    });
    if (actions) {
      const td = tr.cells[columns.length];
      const sig = actions.signature(row);
      if (td.dataset.sig !== sig) {
        td.dataset.sig = sig;
        const hadFocus = td.contains(document.activeElement) ? document.activeElement.textContent : null;
        td.replaceChildren();
        actions.build(row, td);
        if (hadFocus) [...td.querySelectorAll('button')].find((b) => b.textContent === hadFocus)?.focus();
      }
    }
    // Keep the order of `rows` without moving rows that are already in place.
    const want = previous ? previous.nextSibling : tbody.firstChild;
    if (want !== tr) tbody.insertBefore(tr, want);
    previous = tr;
  }
  for (const tr of existing.values()) tr.remove();
}

/** A button with a visible label and an accessible name that says what it acts on. */
export function button(label, accessibleName, onClick, className = 'small') {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.className = className;
  if (accessibleName && accessibleName !== label) b.setAttribute('aria-label', accessibleName);
  b.addEventListener('click', onClick);
  return b;
}
