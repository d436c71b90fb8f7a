/// <reference types="vitest/config" />
// Vite: `npm run dev` serves the shop on 127.0.0.1:5173 with hot reload and proxies `/api` to a
// running gateway (STOREFRONT_API, default http://127.0.0.1:3000), so the shop calls the API on
// its own origin exactly as when the gateway serves the built files.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const api = process.env.STOREFRONT_API ?? 'http://127.0.0.1:3000';

export default defineConfig({
  plugins: [react()],
  server: {
    host: '127.0.0.1',
    port: 5173,
    strictPort: true,
    proxy: {
      '/api': { target: api, changeOrigin: false },
      '/.well-known': { target: api },
    },
  },
  build: {
    target: 'es2022',
    sourcemap: true,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
