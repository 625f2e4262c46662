import { defineConfig } from 'vite'

// The built assets are served by Django under /static/ (STATICFILES_DIRS = frontend/dist).
// Django reads dist/.vite/manifest.json to find the hashed entry for `src/main.js` and its CSS.
export default defineConfig({
  base: '/static/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    manifest: true,
    chunkSizeWarningLimit: 1024,
    rolldownOptions: {
      input: 'src/main.js',
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.js'],
    setupFiles: ['src/test-setup.js'],
  },
})
