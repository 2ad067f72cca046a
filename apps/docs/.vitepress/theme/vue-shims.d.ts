// Lets `tsc` type-check the theme's TypeScript, which imports .vue files.
declare module '*.vue' {
  import type { DefineComponent } from 'vue'

  const component: DefineComponent
  export default component
}
