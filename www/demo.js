// The demo page: loads the tidesync module and shows its version.
import init, { version } from '/pkg/tidesync.js';

const status = document.getElementById('status');
try {
  await init();
  document.getElementById('version').textContent = version();
  status.textContent = 'loaded';
  status.className = 'ok';
} catch (e) {
  status.textContent = `failed: ${e}`;
  status.className = 'err';
}
