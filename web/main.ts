import { askView } from './views/ask.js';
import { chatView } from './views/chat.js';
import { collectionsView } from './views/collections.js';
import { heatmapView } from './views/heatmap.js';
import { searchView } from './views/search.js';
import { statusView } from './views/status.js';

/** Wires the views together: ingesting or deleting refreshes the status; a new key reloads them and the stored conversation. */
function start(): void {
  const status = statusView(() => {
    void status.refresh();
    void collections.refresh();
    void chat.restore();
  });
  const collections = collectionsView(() => void status.refresh());
  askView();
  const chat = chatView();
  searchView();
  heatmapView();
  void status.refresh();
  void collections.refresh();
  void chat.restore();
  // The page is usable once its views are wired: tests can wait for this mark.
  document.body.dataset.ready = 'true';
}

start();
