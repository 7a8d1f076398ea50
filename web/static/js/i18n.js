// Chinese and English UI text. Chinese for a zh browser unless the user picked a language.

const STRINGS = {
  zh: {
    app: "Hotline 呼叫中心", console: "坐席工作台", wallboard: "监控大屏", engineer: "工程师", portal: "客户服务",
    login: "登录", username: "用户名", password: "密码", signin: "登录", logout: "退出",
    login_failed: "登录失败", language: "语言",
    online: "实时更新已连接", offline: "实时更新已断开，正在重连…",
    pbx_demo: "演示电话系统", pbx_demo_hint: "内置演示电话系统：自动播放录制的来电（HOTLINE_AMI_URL=off 可关闭）", pbx_down: "电话系统未连接：来电弹屏、呼叫与转接暂不可用",
    connecting: "连接中…", unauthorized: "登录已过期",
    state: "状态", available: "空闲", paused: "暂停", wrapup: "话后整理", pause_reason: "暂停原因",
    reason_break: "休息", reason_meeting: "会议", reason_training: "培训", reason_lunch: "午餐",
    no_call: "暂无来电。来电时这里会弹出客户资料。",
    incoming: "来电", caller: "主叫号码", queue: "队列", unknown_caller: "未知来电",
    new_customer: "新建客户", customer_name: "客户名称", create: "创建", cancel: "取消",
    vip: "VIP", tier: "等级", orders: "订单", in_warranty: "保修期内", out_of_warranty: "已过保",
    warranty_unknown: "保修未知", warranty_until: "保修至", open_tickets: "工单", recent_calls: "最近通话",
    none: "无", new_ticket: "新建工单", hangup: "挂断", dismiss: "关闭",
    st_ringing: "振铃中", st_answered: "通话中", st_held: "保持", st_transferred: "已转接",
    st_ended: "已结束", st_abandoned: "已放弃", st_elsewhere: "已由其他坐席接听", st_left: "已离开通话", st_queued: "排队中",
    ticket_form: "工单", title: "标题", type: "类型", priority: "优先级", description: "描述",
    order_number: "订单号", customer: "客户", call: "通话", group: "处理组", assignee: "处理人",
    unassigned: "未分配", save_ticket: "创建工单", prefilled: "语音预填", transcript: "实时转写",
    no_transcript: "通话开始后显示转写文本", kb: "知识库建议", no_kb: "暂无建议",
    p_urgent: "紧急", p_high: "高", p_normal: "普通", p_low: "低",
    my_tickets: "我的工单", group_queue: "组队列", all_status: "全部状态", search: "搜索", refresh: "刷新",
    number: "编号", status: "状态", updated: "更新时间", due: "到期", empty: "没有工单",
    s_new: "新建", s_assigned: "已分配", s_in_progress: "处理中", s_pending_customer: "待客户",
    s_resolved: "已解决", s_closed: "已关闭", s_cancelled: "已取消",
    detail: "工单详情", history: "历史", comments: "评论", attachments: "附件", add_comment: "添加评论",
    public: "对客户可见", internal: "仅内部", make_public: "设为对客户可见", make_internal: "设为仅内部", ev_attachment_visibility: "附件可见性变更", send: "发送", upload: "上传", change_status: "变更状态", apply: "应用",
    route: "流转", assign: "分配", forward: "转下一部门", transfer: "转接通话并附工单",
    transfer_to: "转接给", call_customer: "呼叫客户", dial: "拨号", dial_placeholder: "电话号码",
    calling: "正在呼叫…", created: "已创建工单", saved: "已保存", transferred_in: "转接来的工单",
    from: "来自", open: "打开", error: "错误", shortcuts: "快捷键: Alt+N 新建工单 · Alt+T 我的工单 · Alt+Q 组队列 · Alt+H 挂断 · Alt+K 拨号",
    fields: "附加字段", tags: "标签", version: "版本", confirm_hangup: "挂断此通话？", hangup_yes: "确认挂断",
    load_more: "加载更多", loading: "加载中…", list_count: "已显示 {n} 条，共 {total} 条",
    queues: "队列", waiting: "等待", longest_wait: "最长等待", service_level: "服务水平",
    abandon_rate: "放弃率", agents: "坐席", agent: "坐席", extension: "分机", since: "更新于",
    no_queue_data: "尚无队列数据", work_orders: "工单派工", no_work_orders: "暂无派工；新派工会实时出现在这里。",
    my_requests: "我的服务请求", forbidden: "无权访问此页面", to_description: "填入描述",
    ev_created: "创建", ev_status_changed: "状态变更", ev_reopened: "重新打开", ev_assigned: "分配",
    ev_updated: "修改", ev_forwarded: "转下一部门", ev_call_linked: "关联通话", ev_commented: "评论",
    ev_attachment_added: "添加附件", reason: "原因", live_calls: "实时通话", no_live_calls: "当前没有通话", in_call: "通话中", ringing: "振铃中", unavailable: "离线",
    spy_listen: "监听", spy_whisper: "耳语", spy_barge: "强插", spying: "正在呼叫您的分机…", talk: "通话时长",
    wait: "等待时长", actions: "操作", choose_file: "选择文件", no_file: "未选择文件",
    f_status: "状态", f_priority: "优先级", f_type: "类型", f_channel: "渠道", f_assignee: "处理人",
    f_group: "处理组", f_title: "标题", f_description: "描述", f_tags: "标签", f_fields: "附加字段",
    f_order: "订单", f_customer: "客户", f_due_at: "到期", f_public: "对客户可见", f_filename: "文件",
    ch_phone: "电话", ch_email: "邮件", ch_web: "网页", ch_ivr: "IVR", ch_api: "API",
    ev_email_received: "收到邮件", via_email: "经邮件", f_sender: "发件人", f_outcome: "结果",
    f_dropped: "未保存的附件", f_follows: "接续工单", mo_new_ticket: "新建工单", mo_comment: "追加回复",
    mo_reopened: "重新打开", mo_unverified: "发件人未验证（内部备注）", email_reply_public: "邮件工单：公开回复会发邮件给客户",
    all_tickets: "全部工单", unassigned_tab: "未分配", customers: "客户", open_status: "未完成",
    all_priorities: "全部优先级", all_types: "全部类型", all_groups: "全部处理组", anyone: "全部处理人",
    created_from: "创建日期自", created_to: "创建日期至", customer_search: "姓名、电话或订单号",
    phones: "电话", phones_placeholder: "电话号码，多个用逗号分隔", no_customers: "没有找到客户",
    customer_created: "已创建客户", new_customer_inline: "新客户（与工单一起创建）", company: "公司",
    yes: "是", no: "否", open_customer: "查看客户", ticket_for_customer: "为该客户新建工单",
    state_not_changed: "状态未变更", state_set: "状态已变更",
    err_network: "无法连接服务器", err_bad_request: "请求无效", err_forbidden: "无权执行此操作",
    err_not_found: "未找到", err_conflict: "与当前状态冲突", err_invalid: "输入有误",
    err_too_large: "文件太大", err_busy: "请求过于频繁，请稍后再试", err_unavailable: "服务暂不可用",
    err_server: "服务器出错", err_no_pbx: "电话系统未连接", err_no_assignee: "工单还没有处理人，请先分配",
    err_illegal_move: "工单当前状态不允许这样变更", err_stale: "工单已被他人修改，已重新加载",
    err_no_extension: "您的账号没有分机号", err_unknown_number: "此号码没有对应的客户",
    err_phone: "电话号码无效",
    rule_notice: "规则通知：工单 {number}", rule_notice_title: "规则通知",
    priority_auto: "自动（按类型和规则）",
    routing_rules: "路由规则", rules_preview: "规则预判", rules_routed: "规则分派",
    rules_none: "没有规则命中", rules_checking: "正在按规则预判…", rules_override: "在上方选择处理组或处理人即可覆盖规则",
    by_hand: "手动指定", flow: "流程",
    flow_back: "退回上一步", flow_to: "跳到步骤", flow_reason: "退回原因",
    flow_required: "必经", flow_step_n: "第 {n} 步", flow_current: "当前步骤",
    flow_go: "确定", ev_rule_applied: "规则生效", ev_auto_assigned: "自动分配",
    ev_assignment_waiting: "等待分配", ev_returned: "退回上一步", ev_flow_moved: "流程跳转",
    ev_returned_to_pool: "退回组队列", hist_rule: "规则「{rule}」{changes}", hist_set: "将{field}设为 {to}",
    hist_skipped: "{field}为手动指定，未改为 {to}", hist_assigned: "分配给 {who}（{how}）", hist_waiting: "未自动分配：{why}",
    hist_pool: "退回组队列：{why}", hist_moved: "转到 {group}", how_round_robin: "轮流分配",
    how_least_loaded: "负载最少（负载 {n}）", how_vip_senior: "（VIP：最资深）", how_manual: "该组手动分配，工单在组队列等待",
    how_no_members: "该组没有成员，工单在组队列等待", how_waits: "{why}，工单在组队列等待", why_inactive: "没有在职成员",
    why_paused: "在职成员都已暂停或离线", why_cap: "能处理的成员都已满额或缺少技能", why_skills: "没有成员具备技能 {skills}",
    why_disabled: "{user} 已被停用", rf_group: "处理组", rf_assignee: "处理人",
    rf_priority: "优先级", rf_tags: "标签", rf_flow: "流程",
    rf_notify: "通知", rule_name: "名称", rule_enabled: "启用",
    rule_stop: "命中后不再执行后面的规则", rule_triggers: "触发时机", trig_created: "创建工单时",
    trig_updated: "修改工单时", conditions: "条件", match_all: "满足全部",
    match_any: "满足任一", match_groups_all: "以下各组都满足", match_groups_any: "以下任一组满足",
    add_condition: "添加条件", add_cond_group: "添加条件组", remove: "移除",
    rule_actions: "执行动作", add_action: "添加动作", act_set_group: "设置处理组",
    act_set_assignee: "设置处理人", act_set_priority: "设置优先级", act_add_tags: "添加标签",
    act_set_flow: "设置流程（按类型）", act_notify: "通知", new_rule: "新建规则",
    edit: "编辑", save: "保存", delete: "删除",
    confirm_delete: "确认删除", move_up: "上移", move_down: "下移",
    dry_run: "试运行", dry_on_ticket: "按工单编号", dry_on_sample: "按样例工单",
    dry_try: "试运行", dry_fired: "命中的规则", dry_none: "没有规则命中",
    dry_result: "结果", dry_assignment: "自动分配", dry_with_draft: "包括正在编辑的规则（未保存）",
    dry_at: "时间（可选）", dry_trigger: "触发", no_rules: "还没有规则",
    rules_read_only: "只读：只有管理员可以修改规则，您可以查看和试运行。", values_hint: "多个值用逗号分隔", rule_saved: "规则已保存",
    rule_deleted: "规则已删除", order_saved: "顺序已保存", drag_hint: "拖动或用箭头调整顺序；按顺序执行",
    not_found_ticket: "找不到该编号的工单", stops: "停止", skipped: "未改",
    back_console: "坐席工作台", op_eq: "等于", op_ne: "不等于",
    op_in: "属于", op_not_in: "不属于", op_is_set: "已填写",
    op_is_not_set: "未填写", op_at_least: "至少", op_at_most: "至多",
    op_contains_any: "包含任一", op_contains_all: "包含全部", op_contains_none: "不包含",
    op_has_any: "含任一标签", op_has_all: "含全部标签", op_has_none: "不含标签",
    op_between: "在时间段内", fd_type: "工单类型", fd_priority: "优先级",
    fd_channel: "渠道", fd_status: "状态", fd_customer_tier: "客户等级",
    fd_queue: "来电队列", fd_group: "处理组", fd_assignee: "处理人",
    fd_order_number: "订单号", fd_product: "产品", fd_customer_address: "客户地址",
    fd_title: "标题", fd_description: "描述", fd_transcript: "通话转写",
    fd_text: "标题、描述或转写", fd_tags: "标签", fd_time_of_day: "时间（几点）",
    fd_weekday: "星期", wd_1: "周一", wd_2: "周二",
    wd_3: "周三", wd_4: "周四", wd_5: "周五",
    wd_6: "周六", wd_7: "周日", time_from: "从",
    time_to: "到",
    merge_into: "合并到…", merge_note: "合并说明（可选）", merge_force: "允许其他客户的工单", merge_which: "请输入工单号，如 T-000042",
    merge_confirm: "将 {src} 合并到 {dst}？{src} 将关闭并变为只读。", merge_yes: "确认合并", merged_done: "已合并到 {dst}",
    merged_into_banner: "此工单已合并到", read_only: "只读", merged_here: "已合并到此工单：", merged_from: "来自",
    relations: "关联工单", parent_incident: "父工单（批量问题）", child_tickets: "子工单",
    add_child: "添加子工单", make_child_of: "设为其子工单", link: "关联", unlink: "取消关联",
    bulk_children: "对全部未完成的子工单", bulk_reply: "回复全部子工单（客户可见）", bulk_status: "变更全部子工单状态",
    bulk_close: "关闭全部子工单", bulk_done: "已应用到 {n} 个子工单，跳过 {m} 个", bulk_skipped: "已跳过",
    ev_merged: "已合并", ev_merged_in: "合并进入", ev_child_linked: "关联子工单", ev_child_unlinked: "取消子工单",
    ev_parent_linked: "关联父工单", ev_parent_unlinked: "取消父工单", ev_bulk_applied: "批量操作",
    f_into: "合并到", f_from: "来自", f_comments: "评论", f_attachments: "附件", f_calls: "通话", f_child: "子工单",
    f_parent: "父工单", f_action: "操作", f_applied: "已应用", f_skipped: "已跳过",
    err_merged: "工单已合并，只读", err_other_customer: "两个工单属于不同客户（可勾选“允许其他客户的工单”）",
    err_one_level: "父子工单只能有一层",
  },
  en: {
    app: "Hotline", console: "Agent console", wallboard: "Wallboard", engineer: "Engineer", portal: "Customer portal",
    login: "Log in", username: "Username", password: "Password", signin: "Sign in", logout: "Log out",
    login_failed: "Login failed", language: "Language",
    online: "Live updates on", offline: "Live updates off, reconnecting…",
    pbx_demo: "Demo PBX", pbx_demo_hint: "Built-in demo PBX: plays recorded calls by itself (HOTLINE_AMI_URL=off turns it off)", pbx_down: "PBX not connected: call pops, calls and transfers are unavailable",
    connecting: "Connecting…", unauthorized: "Session expired",
    state: "State", available: "Available", paused: "Paused", wrapup: "Wrap-up", pause_reason: "Pause reason",
    reason_break: "Break", reason_meeting: "Meeting", reason_training: "Training", reason_lunch: "Lunch",
    no_call: "No call. The caller's history pops here when the phone rings.",
    incoming: "Incoming call", caller: "Caller", queue: "Queue", unknown_caller: "Unknown caller",
    new_customer: "New customer", customer_name: "Customer name", create: "Create", cancel: "Cancel",
    vip: "VIP", tier: "Tier", orders: "Orders", in_warranty: "In warranty", out_of_warranty: "Out of warranty",
    warranty_unknown: "Warranty unknown", warranty_until: "until", open_tickets: "Tickets", recent_calls: "Recent calls",
    none: "None", new_ticket: "New ticket", hangup: "Hang up", dismiss: "Dismiss",
    st_ringing: "Ringing", st_answered: "Answered", st_held: "On hold", st_transferred: "Transferred",
    st_ended: "Ended", st_abandoned: "Abandoned", st_elsewhere: "Answered by", st_left: "Left the call", st_queued: "Queued",
    ticket_form: "Ticket", title: "Title", type: "Type", priority: "Priority", description: "Description",
    order_number: "Order number", customer: "Customer", call: "Call", group: "Group", assignee: "Assignee",
    unassigned: "Unassigned", save_ticket: "Create ticket", prefilled: "from speech", transcript: "Live transcript",
    no_transcript: "The transcript shows here during a call", kb: "Knowledge base", no_kb: "No suggestions",
    p_urgent: "Urgent", p_high: "High", p_normal: "Normal", p_low: "Low",
    my_tickets: "My tickets", group_queue: "Group queue", all_status: "All statuses", search: "Search", refresh: "Refresh",
    number: "Number", status: "Status", updated: "Updated", due: "Due", empty: "No tickets",
    s_new: "New", s_assigned: "Assigned", s_in_progress: "In progress", s_pending_customer: "Pending customer",
    s_resolved: "Resolved", s_closed: "Closed", s_cancelled: "Cancelled",
    detail: "Ticket detail", history: "History", comments: "Comments", attachments: "Attachments", add_comment: "Add comment",
    public: "Visible to customer", internal: "Internal only", make_public: "Show to customer", make_internal: "Make internal", ev_attachment_visibility: "attachment visibility changed", send: "Send", upload: "Upload", change_status: "Change status", apply: "Apply",
    route: "Route", assign: "Assign", forward: "Forward to next department", transfer: "Transfer call with ticket",
    transfer_to: "Transfer to", call_customer: "Call customer", dial: "Dial", dial_placeholder: "Phone number",
    calling: "Calling…", created: "Ticket created", saved: "Saved", transferred_in: "Transferred ticket",
    from: "from", open: "Open", error: "Error", shortcuts: "Keys: Alt+N new ticket · Alt+T my tickets · Alt+Q group queue · Alt+H hang up · Alt+K dial",
    fields: "Fields", tags: "Tags", version: "Version", confirm_hangup: "Hang up this call?", hangup_yes: "Yes, hang up",
    load_more: "Load more", loading: "Loading…", list_count: "{n} of {total}",
    queues: "Queues", waiting: "Waiting", longest_wait: "Longest wait", service_level: "Service level",
    abandon_rate: "Abandon rate", agents: "Agents", agent: "Agent", extension: "Extension", since: "Updated",
    no_queue_data: "No queue data yet", work_orders: "Work orders", no_work_orders: "No work orders yet; new ones appear here live.",
    my_requests: "My requests", forbidden: "You may not open this page", to_description: "→ description",
    ev_created: "created", ev_status_changed: "status changed", ev_reopened: "reopened", ev_assigned: "assigned",
    ev_updated: "edited", ev_forwarded: "forwarded", ev_call_linked: "call linked", ev_commented: "commented",
    ev_attachment_added: "attachment added", reason: "Reason", live_calls: "Live calls", no_live_calls: "No calls right now", in_call: "On a call", ringing: "Ringing", unavailable: "Unavailable",
    spy_listen: "Listen", spy_whisper: "Whisper", spy_barge: "Barge in", spying: "Calling your extension…", talk: "Talk time",
    wait: "Wait", actions: "Actions", choose_file: "Choose file", no_file: "No file chosen",
    f_status: "Status", f_priority: "Priority", f_type: "Type", f_channel: "Channel", f_assignee: "Assignee",
    f_group: "Group", f_title: "Title", f_description: "Description", f_tags: "Tags", f_fields: "Fields",
    f_order: "Order", f_customer: "Customer", f_due_at: "Due", f_public: "Public", f_filename: "File",
    ch_phone: "Phone", ch_email: "Email", ch_web: "Web", ch_ivr: "IVR", ch_api: "API",
    ev_email_received: "email received", via_email: "by email", f_sender: "Sender", f_outcome: "Outcome",
    f_dropped: "Attachments not kept", f_follows: "Follows", mo_new_ticket: "new ticket", mo_comment: "reply added",
    mo_reopened: "reopened", mo_unverified: "unverified sender (internal note)", email_reply_public: "Email ticket: a public reply is emailed to the customer",
    all_tickets: "All tickets", unassigned_tab: "Unassigned", customers: "Customers", open_status: "Open",
    all_priorities: "All priorities", all_types: "All types", all_groups: "All groups", anyone: "Anyone",
    created_from: "Created from", created_to: "Created to", customer_search: "Name, phone or order number",
    phones: "Phones", phones_placeholder: "Phone numbers, comma-separated", no_customers: "No customers found",
    customer_created: "Customer created", new_customer_inline: "New customer (created with the ticket)", company: "Company",
    yes: "yes", no: "no", open_customer: "Open customer", ticket_for_customer: "New ticket for this customer",
    state_not_changed: "State not changed", state_set: "State changed",
    err_network: "Cannot reach the server", err_bad_request: "The request was not valid", err_forbidden: "You may not do this",
    err_not_found: "Not found", err_conflict: "This conflicts with the current state", err_invalid: "Some input is not valid",
    err_too_large: "The file is too large", err_busy: "Too many requests; try again shortly", err_unavailable: "The service is unavailable",
    err_server: "The server failed", err_no_pbx: "The phone system is not connected", err_no_assignee: "The ticket has no assignee; assign someone first",
    err_illegal_move: "The ticket cannot move to that status now", err_stale: "Someone else changed the ticket; it was reloaded",
    err_no_extension: "Your user has no phone extension", err_unknown_number: "No customer has this number",
    err_phone: "That phone number is not valid",
    rule_notice: "A rule notified you: ticket {number}", rule_notice_title: "Rule notice",
    priority_auto: "Auto (type and rules)",
    routing_rules: "Routing rules", rules_preview: "Rules", rules_routed: "Routed by rules",
    rules_none: "no rule applies", rules_checking: "Checking the rules…", rules_override: "Choose a group or assignee above to override the rules",
    by_hand: "set by hand", flow: "Flow",
    flow_back: "Send back", flow_to: "Move to step", flow_reason: "Reason for sending back",
    flow_required: "required", flow_step_n: "Step {n}", flow_current: "current step",
    flow_go: "Go", ev_rule_applied: "rule applied", ev_auto_assigned: "auto-assigned",
    ev_assignment_waiting: "waiting for assignment", ev_returned: "sent back", ev_flow_moved: "moved on the flow",
    ev_returned_to_pool: "returned to pool", hist_rule: "rule '{rule}' {changes}", hist_set: "set {field} {to}",
    hist_skipped: "left {field} (set by hand), not {to}", hist_assigned: "assigned to {who} by {how}", hist_waiting: "not assigned: {why}",
    hist_pool: "returned to pool: {why}", hist_moved: "moved to {group}", how_round_robin: "round robin",
    how_least_loaded: "least loaded (load {n})", how_vip_senior: " (VIP: most senior)", how_manual: "the group assigns by hand: the ticket waits in its queue",
    how_no_members: "the group has no members: the ticket waits in its queue", how_waits: "{why}: the ticket waits in the group's queue", why_inactive: "no member is active",
    why_paused: "every active member is paused or logged out", why_cap: "every member who could take it is at their cap or lacks a skill", why_skills: "no member has the skills {skills}",
    why_disabled: "{user} was disabled", rf_group: "group", rf_assignee: "assignee",
    rf_priority: "priority", rf_tags: "tags", rf_flow: "flow",
    rf_notify: "notify", rule_name: "Name", rule_enabled: "Enabled",
    rule_stop: "Stop after this rule", rule_triggers: "Triggers", trig_created: "When a ticket is created",
    trig_updated: "When a ticket is updated", conditions: "Conditions", match_all: "All of",
    match_any: "Any of", match_groups_all: "Every group below holds", match_groups_any: "Any group below holds",
    add_condition: "Add condition", add_cond_group: "Add condition group", remove: "Remove",
    rule_actions: "Actions", add_action: "Add action", act_set_group: "Set group",
    act_set_assignee: "Set assignee", act_set_priority: "Set priority", act_add_tags: "Add tags",
    act_set_flow: "Set flow (of type)", act_notify: "Notify", new_rule: "New rule",
    edit: "Edit", save: "Save", delete: "Delete",
    confirm_delete: "Really delete", move_up: "Move up", move_down: "Move down",
    dry_run: "Dry run", dry_on_ticket: "On ticket number", dry_on_sample: "On a sample ticket",
    dry_try: "Try", dry_fired: "Rules that fired", dry_none: "No rule fired",
    dry_result: "Result", dry_assignment: "Assignment", dry_with_draft: "Include the rule being edited (unsaved)",
    dry_at: "At (optional)", dry_trigger: "Trigger", no_rules: "No rules yet",
    rules_read_only: "Read-only: only admins change rules; you can view and dry-run them.", values_hint: "comma-separated", rule_saved: "Rule saved",
    rule_deleted: "Rule deleted", order_saved: "Order saved", drag_hint: "Rules run top to bottom; drag or use the arrows to reorder",
    not_found_ticket: "No ticket has that number", stops: "stops", skipped: "kept",
    back_console: "Console", op_eq: "is", op_ne: "is not",
    op_in: "is one of", op_not_in: "is none of", op_is_set: "is set",
    op_is_not_set: "is not set", op_at_least: "at least", op_at_most: "at most",
    op_contains_any: "contains any of", op_contains_all: "contains all of", op_contains_none: "contains none of",
    op_has_any: "has any of", op_has_all: "has all of", op_has_none: "has none of",
    op_between: "between", fd_type: "Type", fd_priority: "Priority",
    fd_channel: "Channel", fd_status: "Status", fd_customer_tier: "Customer tier",
    fd_queue: "Queue", fd_group: "Group", fd_assignee: "Assignee",
    fd_order_number: "Order number", fd_product: "Product", fd_customer_address: "Customer address",
    fd_title: "Title", fd_description: "Description", fd_transcript: "Transcript",
    fd_text: "Title, description or transcript", fd_tags: "Tags", fd_time_of_day: "Time of day",
    fd_weekday: "Weekday", wd_1: "Mon", wd_2: "Tue",
    wd_3: "Wed", wd_4: "Thu", wd_5: "Fri",
    wd_6: "Sat", wd_7: "Sun", time_from: "from",
    time_to: "to",
    merge_into: "Merge into…", merge_note: "Note (optional)", merge_force: "Another customer's ticket", merge_which: "Enter a ticket number, e.g. T-000042",
    merge_confirm: "Merge {src} into {dst}? {src} will be closed and read-only.", merge_yes: "Yes, merge", merged_done: "Merged into {dst}",
    merged_into_banner: "This ticket was merged into", read_only: "read-only", merged_here: "Merged into this ticket:", merged_from: "from",
    relations: "Related tickets", parent_incident: "Parent incident", child_tickets: "Child tickets",
    add_child: "Add child ticket", make_child_of: "Make child of", link: "Link", unlink: "Unlink",
    bulk_children: "For every open child", bulk_reply: "Reply to all children (visible to customers)", bulk_status: "Change status of all children",
    bulk_close: "Close all children", bulk_done: "Applied to {n} children, skipped {m}", bulk_skipped: "Skipped",
    ev_merged: "merged", ev_merged_in: "merged in", ev_child_linked: "child linked", ev_child_unlinked: "child unlinked",
    ev_parent_linked: "linked to parent", ev_parent_unlinked: "unlinked from parent", ev_bulk_applied: "bulk action",
    f_into: "Merged into", f_from: "From", f_comments: "Comments", f_attachments: "Attachments", f_calls: "Calls", f_child: "Child",
    f_parent: "Parent", f_action: "Action", f_applied: "Applied", f_skipped: "Skipped",
    err_merged: "The ticket was merged and is read-only", err_other_customer: "The tickets belong to different customers (tick “Another customer's ticket”)",
    err_one_level: "Parent and child tickets are one level only",
  },
};

export function detectLang() {
  try {
    const saved = localStorage.getItem("hotline_lang");
    if (saved === "zh" || saved === "en") return saved;
  } catch { /* storage blocked */ }
  const nav = (navigator.languages && navigator.languages[0]) || navigator.language || "";
  return nav.toLowerCase().startsWith("zh") ? "zh" : "en";
}

let lang = detectLang();

export const getLang = () => lang;

export function setLang(next) {
  lang = next === "zh" ? "zh" : "en";
  try { localStorage.setItem("hotline_lang", lang); } catch { /* ignore */ }
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  applyStatic();
}

/** Text for key in the current language (falls back to English, then to the key). */
export function t(key) {
  return STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
}

/** Text for key with {name} placeholders filled from vars (values go in as plain text). */
export function tf(key, vars) {
  return t(key).replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** Text for a key built from outside data (a state, a status): the raw value if unknown. */
export function tOr(prefix, value) {
  const key = `${prefix}${value}`;
  const text = t(key);
  return text === key ? String(value ?? "") : text;
}

/** Re-label elements carrying data-i18n / data-i18n-placeholder / data-i18n-title. */
export function applyStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

/** A <select> that switches language and calls onChange after re-labelling. */
export function langSwitch(onChange) {
  const sel = document.createElement("select");
  sel.className = "lang";
  sel.setAttribute("aria-label", "Language / 语言");
  for (const [v, label] of [["zh", "中文"], ["en", "English"]]) {
    const o = document.createElement("option");
    o.value = v; o.textContent = label; sel.appendChild(o);
  }
  sel.value = lang;
  sel.addEventListener("change", () => { setLang(sel.value); if (onChange) onChange(); });
  return sel;
}

document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
