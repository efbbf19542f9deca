// The console's two questions to the admin: "are you sure?" before a role change or a destructive
// action, and a generated secret shown once. Both accessible: the confirmation is a modal
// alertdialog whose focus starts on Cancel (Enter does not destroy anything by accident) and
// which Escape closes; the secret stays in its panel, with a Copy button, until dismissed.

const $ = (selector) => document.querySelector(selector);

/**
 * Asks before doing something. Resolves true for Confirm, false for Cancel or Escape; focus goes
 * back to where it was.
 */
export function confirmAction({ title, message, confirmLabel = 'Confirm', danger = false }) {
  const dialog = $('#confirm-dialog');
  const ok = $('#confirm-ok');
  const cancel = $('#confirm-cancel');
  $('#confirm-title').textContent = title;
  $('#confirm-message').textContent = message;
  ok.textContent = confirmLabel;
  ok.classList.toggle('danger-solid', danger);
  const returnTo = document.activeElement;
  return new Promise((resolve) => {
    const finish = (answer) => {
      ok.removeEventListener('click', onOk);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onEscape);
      dialog.close();
      if (returnTo?.isConnected) returnTo.focus();
      resolve(answer);
    };
    const onOk = () => finish(true);
    const onCancel = () => finish(false);
    const onEscape = (e) => { e.preventDefault(); finish(false); }; // Escape on a modal <dialog>
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onEscape);
    dialog.showModal();
    cancel.focus();
  });
}

/**
 * Shows a secret (a generated password, an enrollment token) once, in a panel that stays until
 * its Done button: the next action's message does not replace it.
 */
export function showSecret(title, secret, note) {
  $('#secret-title').textContent = title;
  $('#secret-note').textContent = note;
  $('#secret-value').value = secret;
  $('#secret-copied').textContent = '';
  $('#secret-panel').hidden = false;
  $('#secret-value').focus();
  $('#secret-value').select();
}

export function hideSecret() {
  $('#secret-panel').hidden = true;
  $('#secret-value').value = '';
  $('#secret-copied').textContent = '';
}

/** Copies the shown secret: the Clipboard API, or (not allowed, e.g. plain http) select and copy. */
export async function copySecret() {
  const input = $('#secret-value');
  const status = $('#secret-copied');
  try {
    await navigator.clipboard.writeText(input.value);
    status.textContent = 'Copied to the clipboard.';
  } catch {
    input.focus();
    input.select();
    const copied = document.execCommand?.('copy');
    status.textContent = copied ? 'Copied to the clipboard.' : 'Selected: press Ctrl+C (⌘C) to copy it.';
  }
}

export function wireDialogs() {
  $('#secret-copy').addEventListener('click', copySecret);
  $('#secret-done').addEventListener('click', hideSecret);
}
