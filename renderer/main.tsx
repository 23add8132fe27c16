/** Renderer entry: mounts the app and starts the store (status, events, log). */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { appStore } from './store/hooks.js';
import './styles.css';
import './tunnels.css';
import './tunnels-forms.css';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

void appStore.getState().start();
