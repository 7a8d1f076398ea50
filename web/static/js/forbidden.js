import { applyStatic } from "./i18n.js";

applyStatic();
