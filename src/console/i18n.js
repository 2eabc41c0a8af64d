// The pages' languages: English and Simplified Chinese. English text is its
// own key: a string with no translation shows as written. The choice is the
// browser's language until someone picks one, then remembered on this
// browser. Numbers and dates go through Intl in the chosen language. A
// page may bring its own strings (`add`); a service worker loads this too,
// in the browser's language (it has no storage of the choice).
'use strict';

(() => {
  const KEY = 'eldercare.lang';
  const LANGS = [
    ['en', 'English'],
    ['zh-CN', '中文'],
  ];

  const ZH = {
    // A display link opened over a session.
    'Open as a wall screen?': '以大屏模式打开？',
    'This link opens a wall-screen display session. It would replace the session you are signed in with in this tab.':
      '此链接将打开大屏显示会话，并替换您在此标签页中已登录的会话。',
    'Keep my session': '保留我的会话',
    'Open the wall screen': '打开大屏',
    // Shared: logging in, the connection, the language.
    'Log in': '登录',
    'Log out': '退出登录',
    Email: '邮箱',
    Password: '密码',
    'Enter your email and password.': '请输入邮箱和密码。',
    'Wrong email or password.': '邮箱或密码错误。',
    'Your session has ended. Please log in again.': '会话已结束，请重新登录。',
    'Not connected': '未连接',
    'Connecting…': '正在连接…',
    'Reconnecting…': '正在重新连接…',
    Disconnected: '已断开',
    Live: '实时',
    Dismiss: '关闭',
    Language: '语言',
    'Loading…': '加载中…',
    // The console.
    'Alert console · eldercare': '告警控制台 · eldercare',
    'Alert console': '告警控制台',
    // The resident panel's rule backtest.
    'Try these settings': '试用这些设置',
    From: '从',
    To: '到',
    'Inactivity after (hours)': '无活动告警（小时）',
    'Night from': '夜间开始',
    'Night until': '夜间结束',
    'Heart rate min': '心率下限',
    'Heart rate max': '心率上限',
    'SpO₂ min': '血氧下限',
    Alert: '告警',
    'Would raise': '将会触发',
    'Per week': '每周',
    Raised: '实际触发',
    'Choose a period that ends after it starts.': '请选择结束晚于开始的时间段。',
    "What these settings would have raised over the resident's stored history, next to what was raised.":
      '用这些设置回放长者的历史数据会触发哪些告警，并与实际触发的告警对比。',
    'Skip to the alerts': '跳到告警列表',
    'Sound off': '声音关',
    'Sound on': '声音开',
    'Sound blocked: click to allow': '声音被阻止：点击允许',
    '{n} active': '当前 {n} 条',
    '{n} not acknowledged': '{n} 条未确认',
    '{n} critical': '{n} 条危急',
    'No active alerts': '没有当前告警',
    'Whole institution': '整个机构',
    Nobody: '无人',
    'Care staff of your institution.': '本机构护理人员登录。',
    'Active alerts': '当前告警',
    'Critical first, then oldest first. Time shows how long each alert has been open.':
      '危急优先，其次按时间先后。时间为告警已持续的时长。',
    'No active alerts.': '没有当前告警。',
    'No alerts.': '没有告警。',
    'Close ✕': '关闭 ✕',
    Acknowledge: '确认',
    'Details & resolve': '详情与处理',
    Resident: '长者',
    Room: '房间',
    Status: '状态',
    'Open for': '已持续',
    Escalation: '升级',
    Assign: '指派',
    'Assign to': '指派给',
    'Assign to me': '指派给我',
    Assigned: '已指派',
    Comment: '备注',
    'Add comment': '添加备注',
    Resolve: '处理完成',
    'Resolve alert': '结束告警',
    'Note (optional)': '说明（可选）',
    Notes: '备注',
    'Time zone': '时区',
    'Shared device': '公共设备',
    'No devices registered.': '没有登记的设备。',
    'No events recorded since midnight.': '今日零点以来没有事件。',
    'Only care staff can act on alerts.': '只有护理人员可以处理告警。',
    'Choose how the alert ended.': '请选择告警的结束方式。',
    'Could not acknowledge': '无法确认',
    'Could not assign': '无法指派',
    'Could not load the alerts': '无法加载告警',
    'Could not load the residents': '无法加载长者列表',
    'Could not load the staff list': '无法加载员工列表',
    'Could not check the session': '无法检查会话',
    Open: '待处理',
    Acknowledged: '已确认',
    Resolved: '已结束',
    Handled: '已处理',
    'False alarm': '误报',
    'Cancelled by resident': '长者已取消',
    'Cleared automatically': '自动解除',
    Opened: '产生',
    'Happened again': '再次发生',
    'Severity raised': '级别提高',
    Escalated: '已升级',
    CRITICAL: '危急',
    HIGH: '高',
    MEDIUM: '中',
    LOW: '低',
    Fall: '跌倒',
    'SOS button pressed': '按下紧急呼叫',
    Smoke: '烟雾',
    Gas: '燃气',
    'Water leak': '漏水',
    'Abnormal vital sign': '生命体征异常',
    'Missed meal': '未按时用餐',
    'No activity': '长时间无活动',
    'No activity this morning': '今晨无活动',
    'Night wandering': '夜间外出',
    'Out of bed, not back': '离床未归',
    'Out, not back home': '外出未归',
    'Out since {time}': '{time} 起外出',
    'Home from hospital: review her vital-sign thresholds until {date}': '出院返家：请在 {date} 前复核其生命体征阈值',
    'out {span}': '外出 {span}',
    'unsure {span}': '不确定是否在家 {span}',
    'Today: {list}': '今天：{list}',
    'Her routine, last 28 days': '近 28 天的作息',
    'Learning her routine: {n} of 7 days so far.': '正在了解作息：已有 {n} / 7 天。',
    'Usually up by {time}': '通常 {time} 前起床',
    'in bed by {time}': '{time} 前就寝',
    '{meal} around {time}': '{meal}约在 {time}',
    '{meal}: no sign at home on most days': '{meal}：多数日子在家中无迹象',
    'out on {n} of {days} days, usually from {leave}, back by {back}': '{days} 天中有 {n} 天外出，通常 {leave} 出门，{back} 前回家',
    'Quiet spells at home up to {list}.': '在家安静时段最长：{list}。',
    'at night': '夜间',
    'in the morning': '上午',
    'in the afternoon': '下午',
    'in the evening': '晚间',
    '{h} h {m} min': '{h} 小时 {m} 分钟',
    '{h} h': '{h} 小时',
    '{m} min': '{m} 分钟',
    'At home': '在家',
    'Unsure whether at home since {time} (the door closed, nobody seen since)': '{time} 起不确定是否在家（门已关，此后未见活动）',
    'Device offline': '设备离线',
    'Low battery': '电量低',
    'Timed checks stopped': '定时检查已停止',
    'No data from any device': '所有设备均无数据',
    'Heart rate': '心率',
    'Breathing rate': '呼吸频率',
    Temperature: '体温',
    'Blood glucose': '血糖',
    'Fall detected': '检测到跌倒',
    'Fall cancelled': '跌倒已取消',
    'SOS pressed': '按下紧急呼叫',
    Movement: '活动',
    'Door opened': '开门',
    'Door closed': '关门',
    'Got out of bed': '起床',
    'Went to bed': '上床',
    'Meal served': '送餐',
    'Meal eaten': '已用餐',
    'Medication taken': '已服药',
    'Smoke detected': '检测到烟雾',
    'Gas detected': '检测到燃气',
    // The console's registry: elders by name, id number or phone.
    Registry: '长者档案',
    Divisions: '行政区划',
    'Elder registry': '长者档案库',
    'Search by name, id number (whole or masked), or phone number.': '可按姓名、身份证号（完整或脱敏）或电话号码查找。',
    'Search the registry': '查找长者档案',
    Search: '查找',
    'Show more': '显示更多',
    'Searching…': '正在查找…',
    'Could not search the registry': '无法查找长者档案',
    'Nobody found for “{q}”.': '没有找到与“{q}”相符的长者。',
    'No elders in your reach.': '您的辖区内没有长者档案。',
    '{n} shown': '显示 {n} 位',
    '{n} years': '{n} 岁',
    'ID number': '身份证号',
    Age: '年龄',
    Gender: '性别',
    Phone: '电话',
    Division: '所属区划',
    Household: '居住情况',
    'Economic status': '经济状况',
    Female: '女',
    Male: '男',
    'Lives alone': '独居',
    'With spouse': '与配偶同住',
    'With family': '与家人同住',
    'Other household': '其他',
    'No assistance': '无救助',
    'Low income': '低收入',
    'Minimum living allowance (dibao)': '低保',
    'Extreme hardship support (tekun)': '特困供养',
    Enrolments: '服务签约',
    'Enrolments are not shown to you.': '您无权查看签约信息。',
    'Not enrolled with any institution.': '未与任何机构签约。',
    Monitoring: '安全监护',
    'Home care': '居家上门服务',
    'Day care': '日间照料',
    'Residential care': '机构入住',
    Active: '有效',
    Ended: '已终止',
    '{from} to {until}': '{from} 至 {until}',
    'Since {from}': '自 {from} 起',
    'End enrolment': '终止签约',
    // Registering an elder, or enrolling one registered already.
    'Register an elder': '登记长者',
    'Register': '登记',
    'Register someone else': '登记其他长者',
    'Division code (community or grid)': '区划代码（社区或网格）',
    'Not given': '未填写',
    'Services': '服务',
    'Enter the elder’s name.': '请输入长者姓名。',
    'Choose at least one service.': '请至少选择一项服务。',
    '{name} registered.': '已登记 {name}。',
    'This id number is on the registry already: {name} is one elder for every provider.': '该身份证号已在档案库中：{name} 在所有服务机构中只有一份档案。',
    'An admin of your institution enrols her: ask them to register the same id number.': '请由本机构管理员签约：请管理员登记同一身份证号。',
    'Enrol her with your institution for the services you provide, on the consent she or her family gave. Your institution then reaches what those services need, and nothing else.':
      '依据长者或家属的同意，为本机构提供的服务签约。签约后，本机构仅可查看这些服务所需的信息。',
    'Consent given by': '同意人',
    'Consent recorded': '同意方式',
    'The elder': '长者本人',
    'Family': '家属',
    'Guardian': '监护人',
    'Written': '书面',
    'Verbal': '口头',
    'Electronic': '电子',
    'Enrol': '签约',
    'Enrolled with your institution.': '已与本机构签约。',
    'End the enrolment with {name} now? It no longer reaches this elder’s records.':
      '现在终止与{name}的签约吗？终止后该机构将不能再查看这位长者的档案。',
    'End it now': '立即终止',
    'Keep it': '保留',
    'Enrolment ended.': '签约已终止。',
    'Could not end the enrolment': '无法终止签约',
    // The operator's divisions.
    District: '区县',
    Street: '街道',
    Community: '社区',
    Grid: '网格',
    'Where in the ladder': '当前层级',
    'All districts': '全部区县',
    'No districts yet.': '还没有区县。',
    'No divisions under this one yet.': '下面还没有区划。',
    'New district': '新建区县',
    'New division under {name}': '在{name}下新建区划',
    Code: '代码',
    Name: '名称',
    Level: '层级',
    'Create division': '创建区划',
    'Give the code and the name.': '请填写代码和名称。',
    'Division {name} created.': '区划“{name}”已创建。',
    "An institution's division": '机构所属区划',
    'Division code (empty for none)': '区划代码（留空表示无）',
    'Save division': '保存区划',
    'Division saved.': '区划已保存。',
    'Could not load the institutions': '无法加载机构列表',
    'No institutions yet.': '还没有机构。',
    'In division {code}.': '属于区划 {code}。',
    'In no division yet.': '尚未归属任何区划。',

    // The cockpit.
    'Data cockpit · eldercare': '数据驾驶舱 · eldercare',
    'Data cockpit': '数据驾驶舱',
    'Administrators and supervisors.': '机构管理员与监管部门。',
    'Answered within 60 s': '60 秒内应答',
    'Answered within 180 s': '180 秒内应答',
    'target {target}': '目标 {target}',
    'of {n} alerts to answer': '需应答告警 {n} 条',
    'No alerts to answer': '无需应答的告警',
    'Mean time to acknowledge': '平均确认时长',
    'Mean time to resolve': '平均处理时长',
    'Open now': '当前未结束',
    'False alarms': '误报率',
    'Last 30 days': '近 30 天',
    Today: '今日',
    Alerts: '告警',
    Visits: '上门服务',
    Meals: '助餐',
    Devices: '设备',
    Residents: '长者',
    Scheduled: '已排班',
    Completed: '已完成',
    Missed: '未到',
    Late: '迟到',
    'EVV verified': '电子核验通过',
    'Hours delivered': '服务时长',
    'Hours authorised': '核定时长',
    'Average rating': '平均评分',
    Planned: '计划',
    Delivered: '已送达',
    'No answer': '无人应门',
    Cancelled: '已取消',
    Online: '在线',
    'Low battery devices': '低电量设备',
    'With open alerts': '有未结束告警',
    Total: '合计',
    'Answering trend': '应答趋势',
    'Alerts per day': '每日告警',
    'Visits per day': '每日上门服务',
    Institutions: '机构',
    'Worst first': '表现最差者在前',
    Institution: '机构',
    'Region total': '辖区合计',
    'Could not load the figures': '无法加载数据',
    'Updated {time}': '更新于 {time}',
    'within 60 s': '60 秒内',
    'within 180 s': '180 秒内',
    completed: '完成',
    missed: '未到',
    'No data yet': '暂无数据',
    'Figures for administrators and supervisors only.': '仅机构管理员和监管部门可查看。',
    Service: '服务',
    'District map': '辖区地图',
    'by division': '分区情况',
    'Colour by': '着色指标',
    Elders: '老年人',
    'Living alone': '独居',
    'Unmet requests': '未满足的需求',
    'Caregivers per 1,000 elders': '每千名老人护理员数',
    'Kitchens per 1,000 elders': '每千名老人助餐点数',
    'Complaints open or overdue': '未结及超期投诉',
    'Point at or tab to a division for its figure.': '将鼠标指向或用 Tab 键选中区划以查看数值。',
    'Point at or tab to a division for its figure; click it or press Enter to open it.':
      '将鼠标指向或用 Tab 键选中区划以查看数值；点击或按回车键进入该区划。',
    'No boundaries drawn yet.': '尚未绘制区划边界。',
    'No data': '无数据',
    'Requests by service, the most unmet first · last {days} days': '各服务需求（未满足最多者在前）· 近 {days} 天',
    Made: '提出',
    Fulfilled: '已满足',
    Unmet: '未满足',
    'No requests yet.': '暂无服务需求。',
    'Grade 3–4': '3–4 级',
    'Dibao and tekun': '低保与特困',
    'Enrolled for home care': '居家照护在册',
    'Requests made': '提出的需求',
    'Median hours to fulfil': '满足用时中位数（小时）',
    'Claims accepted (yuan)': '已受理结算（元）',
    'Complaints open': '未结投诉',
    Overdue: '超期',
    Upheld: '投诉成立',
    'Figures by division': '分区数据',

    // The caregiver's phone.
    'My visits': '我的上门服务',
    'My visits · eldercare': '我的上门服务 · eldercare',
    'Caregivers: your visits of the day, at the door.': '护理员：当天的上门服务。',
    'Try again': '重试',
    Day: '日期',
    Refresh: '刷新',
    'No visit for you on this day.': '这一天没有分配给您的服务。',
    Requested: '已申请',
    'To do': '待上门',
    'Checked in': '已签到',
    'Checked out': '已签退',
    Done: '已完成',
    'Far from home': '离家过远',
    'Late start': '迟到',
    'Short visit': '服务时长不足',
    'Corrected by hand': '人工更正',
    'Sent later (offline)': '离线补发',
    'Disputed by a follow-up call': '回访存疑',
    'No connection to the server. Nothing was lost: try again.': '无法连接服务器。已填写的内容都保留着，请重试。',
    'Could not check the session': '无法验证登录状态',
    'Could not load your visits': '无法加载您的服务',
    'No address on record': '没有登记地址',
    'Open the map': '打开地图',
    'How to get in': '如何进门',
    'Show key safe code': '显示钥匙箱密码',
    'Could not get the code': '无法获取密码',
    'Responder sheet': '应急信息',
    'Emergency contacts': '紧急联系人',
    Allergies: '过敏',
    Conditions: '疾病',
    Medications: '用药',
    Directives: '医疗意愿',
    'from {source}, {date}': '来自{source}，{date}',
    'Do not attempt CPR (DNACPR)': '不施行心肺复苏（DNACPR）',
    '{m} from home': '距家 {m}',
    Tasks: '服务项目',
    'Note for the record': '服务记录备注',
    'Check in here': '在此签到',
    'Check out here': '在此签退',
    'Tag kind': '标签类型',
    'Tag at the door': '门口的标签',
    'Code on the tag at the door': '门口标签上的编码',
    'Use the tag': '使用标签',
    'No position? Use the tag at the door': '无法定位？使用门口的标签',
    'Type or scan the code on the tag first.': '请先输入或扫描标签编码。',
    'Check-in not sent': '签到未发送',
    'Check-out not sent': '签退未发送',
    'This page may not use your location. Allow location for this site in the browser settings and try again, or use the tag at the door.':
      '此页面无权使用您的位置。请在浏览器设置中允许本网站使用位置后重试，或使用门口的标签。',
    'This browser cannot give a position: use the tag at the door.': '此浏览器无法提供位置：请使用门口的标签。',
    'Your position could not be found. Step outside or near a window and try again, or use the tag at the door.':
      '无法确定您的位置。请到室外或窗边后重试，或使用门口的标签。',
    "This home has no position on record: check in with the phone's position.": '此住址没有登记位置：请用手机定位签到。',
  };

  const DICTS = { 'zh-CN': ZH };
  const listeners = [];

  function detect() {
    const stored = self.localStorage ? localStorage.getItem(KEY) : null;
    if (LANGS.some(([code]) => code === stored)) return stored;
    for (const wanted of navigator.languages || [navigator.language || 'en']) {
      if (/^zh\b/i.test(wanted)) return 'zh-CN';
      if (/^en\b/i.test(wanted)) return 'en';
    }
    return 'en';
  }

  let lang = detect();

  /** The text in the current language, with `{name}` filled from `vars`. */
  function t(text, vars) {
    const dict = DICTS[lang];
    let out = (dict && dict[text]) || text;
    for (const [k, v] of Object.entries(vars || {})) out = out.split(`{${k}}`).join(String(v));
    return out;
  }

  /** Translates the page's static text: elements marked `data-i18n` keep
   * their English source and show its translation. */
  function apply(root = document) {
    for (const el of root.querySelectorAll('[data-i18n]')) {
      if (!el.dataset.i18nSource) el.dataset.i18nSource = el.textContent.trim();
      el.textContent = t(el.dataset.i18nSource);
    }
    for (const el of root.querySelectorAll('[data-i18n-title]')) document.title = t(el.dataset.i18nTitle);
    document.documentElement.lang = lang;
  }

  function setLang(code) {
    if (!LANGS.some(([c]) => c === code)) return;
    lang = code;
    localStorage.setItem(KEY, code);
    apply();
    for (const f of listeners) f(code);
  }

  /** A language picker: a select that switches and remembers. */
  function picker(select) {
    select.textContent = '';
    for (const [code, name] of LANGS) {
      const option = document.createElement('option');
      option.value = code;
      option.textContent = name;
      select.append(option);
    }
    select.value = lang;
    select.addEventListener('change', () => setLang(select.value));
    listeners.push(() => {
      select.value = lang;
    });
  }

  /** More strings of a language, for one page's own text. */
  function add(code, entries) {
    DICTS[code] = Object.assign(DICTS[code] || {}, entries);
  }

  const number = (value, options) => new Intl.NumberFormat(lang, options).format(value);
  const percent = (value, digits = 1) =>
    new Intl.NumberFormat(lang, { style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits })
      .format(value / 100);
  const dateTime = (value, options) => new Intl.DateTimeFormat(lang, options).format(value);

  self.eldercareI18n = {
    t,
    add,
    apply,
    setLang,
    picker,
    lang: () => lang,
    onChange: (f) => listeners.push(f),
    number,
    percent,
    dateTime,
  };
})();
