/* steward console */
"use strict";
