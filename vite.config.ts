// Builds the renderer (renderer/index.html → app/dist/renderer). The same bundle
// runs in the Electron window and, served by the web admin, in a browser; base './'
// keeps asset URLs relative so it works from file:// and from any path.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  root: 'renderer',
  base: './',
  plugins: [react()],
  build: { outDir: '../app/dist/renderer', emptyOutDir: true },
});
