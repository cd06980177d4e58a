// Kept in step with package.json by build.mjs (the build fails if they differ).
export const VERSION = '0.1.0'
