// NHS.UK frontend components, started from a file: the Content-Security-Policy allows no inline script
import { initAll } from './nhsuk-frontend.min.js'
initAll()
