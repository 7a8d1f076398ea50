// Which tab of the centre column is shown; opening a list tab loads it, the customers tab
// draws its panel.
import { $$ } from "../dom.js";
import { renderCustomers } from "./customers.js";
import { LIST_TABS, loadList } from "./lists.js";
import { S } from "./state.js";

export function showTab(name) {
  S.tab = name;
  for (const b of $$(".tabs [role=tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
  for (const s of $$(".tab")) s.hidden = s.id !== `tab-${name}`;
  if (LIST_TABS.includes(name)) loadList(name);
  if (name === "customers") renderCustomers();
}
