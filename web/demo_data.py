"""The demo data itself: an after-sales hotline of a (fictional) appliance brand, 澜泰 Lantai.

Pure data, no I/O: ``web/demo.py`` loads it. It is written out by hand rather than generated so
that it reads like a real hotline's records: customers as agents store them, ticket titles
as agents write them, products with serial numbers and warranties (some expired), and KB
articles that answer those tickets. Phone numbers are written the way customers give them
(national form); every one is a valid number (``phonenumbers.is_valid_number``).

Times are relative: ``age_h`` is how many hours before the load a ticket was opened, and a
purchase is ``days`` before it, so the data always looks current.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from telephony.demo_pbx import DEMO_CALLER_NUMBERS as DEMO_CALLER_NUMBERS
from tickets.schemas import Channel, Priority, Role, Status

# (username, role, display name, extension)
USERS: list[tuple[str, Role, str, str | None]] = [
    ("admin", "admin", "系统管理员 Admin", None),
    ("alice", "agent", "Alice 王丽", "6001"),
    ("bob", "agent", "Bob 李波", "6002"),
    ("sue", "supervisor", "Sue 苏敏", "6010"),  # 6010: the supervisor phone in asterisk_conf
    ("eric", "engineer", "Eric 陈工", None),
]

#: The customer login of the portal: (username, display name, customer key).
PORTAL_USER = ("wang", "王建军（浦江物业）", "wang")

GROUPS = [
    ("hotline", "Hotline", "客服热线", ["general", "zh", "en"], "support", ["alice", "bob"]),
    ("after_sales", "After-sales", "售后部", ["refund", "warranty"], None, ["bob"]),
    ("repair", "Repair service", "维修服务部", ["repair", "field"], None, ["eric"]),
    ("logistics", "Logistics", "物流部", ["delivery"], None, []),
]

TICKET_TYPES: list[dict[str, object]] = [
    {"key": "refund", "name": "Refund", "name_zh": "退款", "default_priority": "high",
     "flow": ["hotline", "after_sales"],
     "fields": [{"key": "amount", "label": "Amount", "label_zh": "金额", "type": "number",
                 "required": False},
                {"key": "reason", "label": "Reason", "label_zh": "原因", "type": "choice",
                 "required": True,
                 "options": ["defective", "wrong_item", "not_needed", "late", "other"]}],
     "keywords": {"zh": ["退款", "退货", "退钱", "把钱退"], "en": ["refund", "money back",
                                                        "return"],
                  "ko": ["환불", "반품"]}},
    {"key": "repair", "name": "Repair", "name_zh": "维修", "default_priority": "normal",
     "flow": ["hotline", "repair"],
     "fields": [{"key": "fault", "label": "Fault", "label_zh": "故障描述", "type": "text",
                 "required": True},
                {"key": "visit_date", "label": "Visit date", "label_zh": "上门日期",
                 "type": "date", "required": False}],
     "keywords": {"zh": ["维修", "坏了", "修理", "故障", "不工作"],
                  "en": ["repair", "broken", "not working", "fix"], "ko": ["수리", "고장"]}},
    {"key": "delivery", "name": "Delivery", "name_zh": "物流配送", "default_priority": "normal",
     "flow": ["hotline", "logistics"], "fields": [],
     "keywords": {"zh": ["快递", "物流", "配送", "没收到", "送货"],
                  "en": ["delivery", "shipping", "package", "not arrived"],
                  "ko": ["배송", "택배"]}},
    {"key": "complaint", "name": "Complaint", "name_zh": "投诉", "default_priority": "high",
     "flow": ["hotline", "after_sales"], "fields": [],
     "keywords": {"zh": ["投诉", "不满意", "态度"], "en": ["complaint", "complain", "unhappy"],
                  "ko": ["불만", "항의"]}},
    {"key": "account", "name": "Account", "name_zh": "账户", "default_priority": "low",
     "flow": ["hotline"], "fields": [],
     "keywords": {"zh": ["账户", "密码", "登录", "会员"],
                  "en": ["account", "password", "login"], "ko": ["계정", "비밀번호"]}},
]

# The brand catalogue: sku → (name, warranty months, serial prefix). Whole-unit warranties as
# Chinese appliance makers give them (air conditioners 6 years, commercial units 2).
PRODUCTS: dict[str, tuple[str, int, str]] = {
    "KFR-35GW/LT1": ("澜泰 1.5匹变频挂机空调 KFR-35GW/LT1 (1.5 HP split AC)", 72, "LT35G"),
    "KFR-72LW/LT3": ("澜泰 3匹立柜式空调 KFR-72LW/LT3 (3 HP floor-standing AC)", 72, "LT72L"),
    "XQG100-LT12": ("澜泰 10kg 滚筒洗衣机 XQG100-LT12 (front-load washer)", 36, "LTW10"),
    "BCD-520WLT": ("澜泰 520L 对开门冰箱 BCD-520WLT (side-by-side fridge)", 36, "LTR52"),
    "JSQ30-LT16": ("澜泰 16L 燃气热水器 JSQ30-LT16 (gas water heater)", 36, "LTH16"),
    "LT-RO600": ("澜泰 RO600 净水器 LT-RO600 (RO water purifier)", 12, "LTP60"),
    "LT-DW13": ("澜泰 13套 嵌入式洗碗机 LT-DW13 (built-in dishwasher)", 24, "LTD13"),
    "LT-MDV160": ("澜泰 商用多联机外机 LT-MDV160 (16 kW VRF outdoor unit)", 24, "LTM16"),
    "LT-HP250": ("澜泰 空气源热泵机组 LT-HP250 (25 kW air-source heat pump)", 24, "LTK25"),
}

#: The demo PBX's caller numbers (E.164), one list: ``telephony/demo_pbx.py`` defines it and
#: calls from them in order; every one but ``UNKNOWN_CALLER`` is a demo customer:
#: +8613800138000 陈志强, VIP, owns order 478 (the number the captures key in; he calls first);
#: +8615921876543 李秀英; +862161234567 嘉禾餐饮 (Shanghai landline 021 6123 4567);
#: +8618612345678 Daniel Schmidt, Kessler Automation (English); +8675586001234 华锐精密
#: (Shenzhen landline 0755 8600 1234); +8613700001111 nobody (the agent creates the
#: customer); +8613911112222 王建军 (王经理), 浦江物业 (the late caller ID scenario).
UNKNOWN_CALLER = "+8613700001111"

Tier = Literal["standard", "vip"]
Lang = Literal["zh", "en"]


@dataclass(frozen=True)
class DemoCustomer:
    key: str
    name: str
    phones: tuple[tuple[str, str], ...]  # (number as written, label)
    company: str | None = None
    tier: Tier = "standard"
    language: Lang = "zh"
    email: str | None = None
    address: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class DemoOrder:
    number: str
    customer: str  # DemoCustomer.key
    sku: str
    days: int  # purchased this many days before the load
    amount: float
    quantity: int = 1
    status: str = "delivered"
    serial: int = 0  # the unit's serial number suffix (see ``serial_number``)


def serial_number(order: DemoOrder) -> str:
    """The unit's serial number, as printed on its rating plate: prefix, year, sequence."""
    return f"{PRODUCTS[order.sku][2]}{26 - order.days // 365:02d}{order.serial:06d}"


CUSTOMERS: list[DemoCustomer] = [
    # --- the demo PBX callers -----------------------------------------------------------
    DemoCustomer("wang", "王建军", (("139 1111 2222", "mobile"), ("021 6438 1200", "office")),
                 company="上海浦江物业管理有限公司（工程部经理）",
                 email="wangjj@pujiang-pm.example.cn",
                 address="上海市浦东新区张杨路 1588 号 浦江大厦 B 座 12 楼",
                 notes="客户习惯被称呼「王经理」。负责园区 3 栋写字楼的商用多联机和热泵维保；"
                       "师傅进场需提前一天报备物业中控室。"),
    DemoCustomer("chen", "陈志强", (("138 0013 8000", "mobile"),), tier="vip",
                 email="chen.zhiqiang@163.example.com",
                 address="杭州市西湖区玉古路 168 号 紫金花园 6 幢 1202 室",
                 notes="老客户，全屋 6 台澜泰家电。来电优先接听，回访请在工作日 18:00 后。"),
    DemoCustomer("li_xy", "李秀英", (("159 2187 6543", "mobile"),),
                 address="上海市闵行区七莘路 2255 弄 18 号 501 室",
                 notes="年纪较大，说话慢，请耐心；下午 2 点后方便接电话。"),
    DemoCustomer("schmidt", "Daniel Schmidt", (("186 1234 5678", "mobile"),),
                 company="Kessler Automation (Suzhou) Co., Ltd.", language="en",
                 email="d.schmidt@kessler-automation.example.com",
                 address="No. 88 Xinghu Street, Suzhou Industrial Park, Jiangsu 215123",
                 notes="Facility manager; prefers English and e-mail follow-ups."),
    DemoCustomer("jiahe", "周海峰", (("021 6123 4567", "office"), ("136 5187 2904", "mobile")),
                 company="上海嘉禾餐饮管理有限公司（行政主管）",
                 address="上海市静安区南京西路 1266 号 恒隆广场 3 楼",
                 notes="连锁餐厅 4 家门店，洗碗机和立柜空调都是我们的；门店营业时间不安排上门。"),
    DemoCustomer("huarui", "黄美玲", (("0755 8600 1234", "office"),),
                 company="深圳华锐精密电子有限公司（设备部）",
                 email="huangml@huarui-precision.example.cn",
                 address="深圳市南山区科技园南区高新南七道 20 号",
                 notes="工厂空调和热泵机组的对接人；开票抬头见合同。"),
    # --- other customers ------------------------------------------------------------------
    DemoCustomer("zhang_gf", "张桂芳", (("150 0219 8837", "mobile"),),
                 address="北京市朝阳区望京西园四区 412 号楼 3 单元 602"),
    DemoCustomer("liu_jg", "刘建国", (("188 1736 5520", "mobile"), ("010 6528 3391", "home")),
                 address="北京市东城区东四十条 58 号院 2 号楼 1105"),
    DemoCustomer("yang_lj", "杨丽娟", (("133 8192 0475", "mobile"),),
                 address="成都市武侯区天府大道北段 1700 号 环球中心 W6 区"),
    DemoCustomer("zhao_xm", "赵雪梅", (("153 1382 9046", "mobile"),), tier="vip",
                 address="南京市鼓楼区汉中门大街 301 号 12 栋 801"),
    DemoCustomer("zhou_hf", "周海风", (("180 1762 3398", "mobile"),),
                 address="广州市天河区珠江新城华夏路 16 号 富力盈凯广场 2203",
                 notes="注意：与嘉禾餐饮的周海峰不是同一人。"),
    DemoCustomer("wu_jy", "吴静怡", (("139 1287 3364", "mobile"),),
                 email="wujingyi@qq.example.com",
                 address="上海市徐汇区漕溪北路 88 号 圣爱大厦 17 楼"),
    DemoCustomer("sun_jh", "孙建华", (("135 8472 1930", "mobile"),),
                 address="杭州市滨江区江南大道 3688 号 潮人汇 1 幢 1506"),
    DemoCustomer("ma_li", "马丽", (("156 5883 7102", "mobile"),),
                 address="武汉市江汉区建设大道 568 号 新世界国贸大厦 I 座"),
    DemoCustomer("zhu_hm", "朱红梅", (("189 2840 6671", "mobile"),),
                 address="深圳市福田区莲花路 1099 号 莲花北村 33 栋 405"),
    DemoCustomer("hu_wb", "胡文斌", (("137 6042 9981", "mobile"),),
                 address="苏州市姑苏区干将西路 1296 号 8 幢 302"),
    DemoCustomer("guo_xy", "郭晓燕", (("151 0248 7736", "mobile"),),
                 address="上海市宝山区共康路 199 弄 6 号 1402"),
    DemoCustomer("he_zy", "何志勇", (("185 1120 3384", "mobile"),),
                 company="成都蓉城物业服务有限公司",
                 address="成都市锦江区红星路三段 1 号 IFS 二号办公楼"),
    DemoCustomer("gao_yl", "高玉兰", (("131 6689 0215", "mobile"), ("020 8831 6520", "home")),
                 address="广州市越秀区东风中路 437 号 越秀城市广场南塔 1008"),
    DemoCustomer("luo_xd", "罗晓东", (("159 8821 3047", "mobile"),),
                 address="南京市建邺区江东中路 108 号 万达广场 C 座 2106"),
    DemoCustomer("zheng_ml", "郑美玲", (("186 0093 7251", "mobile"),), language="zh",
                 address="北京市海淀区中关村大街 27 号 中关村大厦 1803"),
    DemoCustomer("xie_zh", "谢振华", (("138 1772 0486", "mobile"),),
                 company="杭州西溪湿地酒店管理有限公司（工程部）",
                 address="杭州市西湖区天目山路 518 号"),
    DemoCustomer("song_jy", "宋佳怡", (("152 2169 8304", "mobile"),),
                 address="上海市长宁区仙霞路 99 号 尚嘉中心 25 楼"),
    DemoCustomer("tang_gd", "唐国栋", (("189 3880 1726", "mobile"),),
                 address="广州市海珠区新港东路 1000 号 保利世贸中心 E 座"),
    DemoCustomer("han_xue", "韩雪", (("130 2455 1983", "mobile"),),
                 address="杭州市拱墅区莫干山路 1418 号 上城埭 2 幢 702"),
    DemoCustomer("feng_zg", "冯志刚", (("157 5719 8406", "mobile"), ("0571 8807 6542", "office")),
                 company="杭州冯氏机电工程有限公司", address="杭州市余杭区五常大道 181 号"),
    DemoCustomer("deng_lp", "邓丽萍", (("182 0613 5529", "mobile"),),
                 address="南京市秦淮区中山南路 1 号 新街口南京中心 3301"),
    DemoCustomer("xu_ming", "徐明", (("135 2700 9814", "mobile"),),
                 address="苏州市工业园区星湖街 328 号 创意产业园 12 幢"),
    DemoCustomer("lin_yt", "林雨桐", (("139 6214 8875", "mobile"),),
                 address="苏州市吴中区东吴北路 299 号 吴中大厦 16 楼"),
    DemoCustomer("qian_wei", "钱伟", (("187 6290 5513", "mobile"), ("025 8469 7023", "office")),
                 company="南京钱氏餐饮连锁", address="南京市玄武区珠江路 88 号 新世界中心 A 座"),
    DemoCustomer("turner", "Michael Turner", (("+852 9123 4567", "mobile"),),
                 company="Harbour Bay Hotel Group (Shanghai office)", language="en",
                 email="m.turner@harbourbay.example.com",
                 address="1376 Nanjing West Road, Jing'an District, Shanghai",
                 notes="Regional engineering director; usually calls from his Hong Kong mobile."),
    DemoCustomer("nair", "Priya Nair", (("+65 9123 4567", "mobile"),), language="en",
                 email="priya.nair@example.com",
                 address="Apt 2301, 99 Xianxia Road, Changning District, Shanghai"),
    DemoCustomer("collins", "Sarah Collins", (("+44 20 7946 0123", "office"),),
                 company="Collins & Reed Interiors", language="en",
                 email="sarah@collinsreed.example.co.uk",
                 address="14 Fitzroy Square, London W1T 6EP, United Kingdom",
                 notes="Interior designer; orders appliances for client fit-outs in Shanghai."),
    DemoCustomer("park", "Park Ji-hoon", (("028 8745 1209", "office"),), language="en",
                 company="Seoul Foods Chengdu Co., Ltd.",
                 address="Tianfu Software Park E3, Chengdu"),
]

ORDERS: list[DemoOrder] = [
    DemoOrder("261008417", "wang", "LT-MDV160", 1130, 68000.0, quantity=3, serial=102),
    DemoOrder("261109352", "wang", "LT-HP250", 540, 45800.0, serial=219),
    DemoOrder("261102118", "wang", "KFR-72LW/LT3", 95, 7299.0, quantity=2, serial=733),
    DemoOrder("478", "chen", "BCD-520WLT", 6, 6999.0, serial=58),
    DemoOrder("260301226", "chen", "KFR-35GW/LT1", 980, 3299.0, quantity=3, serial=811),
    DemoOrder("260311509", "chen", "XQG100-LT12", 1280, 4599.0, serial=340),
    DemoOrder("261022731", "chen", "LT-RO600", 410, 2699.0, serial=918),
    DemoOrder("260612044", "li_xy", "KFR-35GW/LT1", 1460, 2999.0, serial=127),
    DemoOrder("261103315", "li_xy", "JSQ30-LT16", 320, 3499.0, serial=446),
    DemoOrder("261115286", "schmidt", "LT-HP250", 210, 46800.0, quantity=2, serial=501),
    DemoOrder("261118902", "schmidt", "KFR-72LW/LT3", 12, 7599.0, serial=902,
              status="delivered"),
    DemoOrder("261027604", "jiahe", "LT-DW13", 260, 5899.0, quantity=4, serial=675),
    DemoOrder("260805113", "jiahe", "KFR-72LW/LT3", 2400, 6899.0, quantity=4, serial=217),
    DemoOrder("261112047", "huarui", "LT-MDV160", 150, 71200.0, quantity=2, serial=388),
    DemoOrder("260920358", "huarui", "KFR-72LW/LT3", 2170, 6499.0, quantity=6, serial=96),
    DemoOrder("261120663", "zhang_gf", "XQG100-LT12", 3, 4299.0, serial=1204),
    DemoOrder("261014580", "liu_jg", "BCD-520WLT", 800, 6799.0, serial=405),
    DemoOrder("260702219", "liu_jg", "KFR-35GW/LT1", 2400, 2899.0, serial=55),
    DemoOrder("261105774", "yang_lj", "LT-RO600", 45, 2599.0, serial=1170),
    DemoOrder("261030126", "zhao_xm", "KFR-72LW/LT3", 370, 7999.0, serial=662),
    DemoOrder("261030127", "zhao_xm", "LT-DW13", 370, 5999.0, serial=663),
    DemoOrder("261117390", "zhou_hf", "JSQ30-LT16", 20, 3599.0, serial=1188),
    DemoOrder("260409861", "wu_jy", "XQG100-LT12", 1150, 4399.0, serial=290),
    DemoOrder("261116025", "sun_jh", "KFR-35GW/LT1", 9, 3199.0, status="shipped", serial=1215),
    DemoOrder("261008833", "ma_li", "BCD-520WLT", 640, 6599.0, serial=511),
    DemoOrder("260218447", "zhu_hm", "JSQ30-LT16", 1500, 3299.0, serial=144),
    DemoOrder("261101559", "hu_wb", "XQG100-LT12", 150, 4499.0, serial=958),
    DemoOrder("261119004", "guo_xy", "LT-RO600", 5, 2699.0, serial=1221),
    DemoOrder("261012681", "he_zy", "LT-MDV160", 700, 69800.0, serial=301),
    DemoOrder("260516302", "gao_yl", "KFR-35GW/LT1", 1700, 2799.0, quantity=2, serial=83),
    DemoOrder("261106238", "luo_xd", "LT-DW13", 60, 5799.0, serial=1149),
    DemoOrder("261025907", "zheng_ml", "BCD-520WLT", 220, 6899.0, serial=870),
    DemoOrder("261013550", "xie_zh", "LT-HP250", 760, 44800.0, quantity=2, serial=266),
    DemoOrder("261110416", "song_jy", "KFR-35GW/LT1", 120, 3299.0, serial=1020),
    DemoOrder("260906671", "tang_gd", "XQG100-LT12", 1050, 4199.0, serial=318),
    DemoOrder("261114093", "han_xue", "LT-DW13", 30, 5899.0, serial=1180),
    DemoOrder("261020765", "feng_zg", "KFR-72LW/LT3", 500, 7299.0, quantity=3, serial=598),
    DemoOrder("260622318", "deng_lp", "JSQ30-LT16", 1250, 3399.0, serial=233),
    DemoOrder("261107485", "xu_ming", "BCD-520WLT", 75, 6999.0, serial=1103),
    DemoOrder("261118177", "lin_yt", "KFR-35GW/LT1", 14, 3299.0, serial=1209),
    DemoOrder("261009920", "qian_wei", "LT-DW13", 600, 5699.0, quantity=3, serial=477),
    DemoOrder("261113602", "turner", "KFR-72LW/LT3", 180, 7599.0, quantity=12, serial=980),
    DemoOrder("261121038", "nair", "XQG100-LT12", 2, 4599.0, status="shipped", serial=1230),
    DemoOrder("261111745", "collins", "BCD-520WLT", 40, 6999.0, quantity=2, serial=1130),
    DemoOrder("261024389", "park", "LT-DW13", 280, 5899.0, serial=701),
]

@dataclass(frozen=True)
class DemoTicket:
    """One ticket and its life so far: opened ``age_h`` hours ago by ``agent``, worked by
    ``assignee`` up to ``status``, with (body, public) comments in between."""

    customer: str
    title: str
    description: str
    type: str | None
    status: Status
    age_h: float
    agent: str = "alice"
    assignee: str | None = None
    priority: Priority | None = None
    order: str | None = None  # one of the customer's order numbers
    channel: Channel = "phone"
    fields: dict[str, object] = field(default_factory=dict)
    comments: tuple[tuple[str, bool], ...] = ()
    tags: tuple[str, ...] = ()
    forward: bool = False  # handed on to the next department of the type's flow
    visit_day: int | None = None  # repair visit date, in days from the load (-2: two days ago)


TICKETS: list[DemoTicket] = [
    # --- 王经理 (浦江物业) ----------------------------------------------------------------
    DemoTicket("wang", "B 座多联机外机报 E6 通讯故障，王经理要求明早上门",
               "王经理来电：浦江大厦 B 座屋面 2 号多联机外机（LT-MDV160，SN 见订单 261008417）"
               "今早 8 点起面板报 E6，12–15 楼室内机全部不制热。已指导断电 5 分钟后重启，"
               "重启后 10 分钟再次报 E6。客户要求明天上午 9:00 前师傅到场，进场需提前报备中控室"
               "（021 6438 1200 转 8）。请维修部今天 17:00 前回电确认时间。",
               "repair", "in_progress", 5, assignee="eric", priority="urgent",
               order="261008417",
               fields={"fault": "E6 室内外机通讯故障，重启无效"}, visit_day=1,
               comments=(("已电话联系王经理，确认明早 8:30 陈工带通讯板备件到场。", True),
                         ("备件库存：LT-MDV160 通讯板 2 块（上海仓），已预留 1 块。", False)),
               tags=("vrf", "e6", "商用")),
    DemoTicket("wang", "热泵机组年度保养预约（2 台 LT-HP250）",
               "王经理要求安排年度保养：园区 2 台空气源热泵，需清洗翅片、检测冷媒压力。"
               "希望周末进场，不影响工作日供暖。", "repair", "resolved", 24 * 19,
               assignee="eric", order="261109352",
               fields={"fault": "年度保养（非故障）"}, visit_day=-16,
               comments=(("保养完成：两台机组翅片清洗，冷媒压力正常，保养报告已发王经理邮箱。",
                          True),), tags=("保养",)),
    DemoTicket("wang", "发票抬头开错，要求重开（订单 261102118）",
               "王经理反馈 2 台立柜空调的增值税专票抬头写成了「浦江物业」，应为「上海浦江物业管理"
               "有限公司」。已登记税号，转售后部重开。", "complaint", "closed", 24 * 60,
               agent="bob", assignee="bob", order="261102118",
               comments=(("财务已作废原票并重开，快递单号 SF1402 8836 5120。", True),)),
    # --- 陈志强 (VIP) ------------------------------------------------------------------------
    DemoTicket("chen", "订单478 冰箱到货门体凹陷，VIP 客户要求退货退款",
               "陈先生（VIP）来电：订单 478 的对开门冰箱（BCD-520WLT）昨天送到，拆箱发现左门"
               "下沿有约 3 cm 凹陷，签收时送货师傅未让开箱验货。客户已拍照，要求整机退货退款，"
               "不接受换货。客户要求今天 18:00 后回电。", "refund", "in_progress", 20,
               assignee="bob", order="478", forward=True, priority="urgent",
               fields={"reason": "defective", "amount": 6999},
               comments=(("照片已收到（3 张），凹陷明显，属运输损坏，符合 7 天退货。", False),
                         ("已联系物流部安排上门取件，退款在取件后 3 个工作日内原路退回。", True)),
               tags=("vip", "运输损坏")),
    DemoTicket("chen", "净水器滤芯到期提醒，客户问是否包安装",
               "客户收到 App 提醒 RO 膜剩余 5%，问更换滤芯是否免费上门。已告知滤芯为耗材不在保修"
               "范围，上门安装免费。客户在 App 下单后联系。", None, "resolved", 24 * 26,
               assignee="alice", comments=(("客户已下单滤芯，回访满意。", False),)),
    # --- 李秀英 --------------------------------------------------------------------------
    DemoTicket("li_xy", "热水器点火失败报 E1，老人独居，请尽快上门",
               "李阿姨来电：燃气热水器（JSQ30-LT16）今天早上开始打不着火，面板显示 E1。已确认"
               "燃气阀门打开、电池刚换过。客户独居，下午 2 点后在家，请维修部优先安排。",
               "repair", "new", 3, priority="high", order="261103315",
               fields={"fault": "E1 点火失败"}, tags=("e1",)),
    DemoTicket("li_xy", "挂机空调外机异响，客户要求上门",
               "客户反映卧室空调（KFR-35GW/LT1，2022 年购买）外机运行时有「咔咔」金属撞击声，"
               "夜里影响邻居。已过整机保修？查询：整机保修 6 年，仍在保。已约周六上午。",
               "repair", "closed", 24 * 33, assignee="eric", order="260612044",
               fields={"fault": "外机异响"}, visit_day=-30,
               comments=(("现场：外机风扇叶片松动，已紧固并加装减震垫，试机 20 分钟无异响。",
                          True),)),
    # --- Daniel Schmidt --------------------------------------------------------------------
    DemoTicket("schmidt", "Heat pump unit 2 trips on high-pressure alarm (P1) every afternoon",
               "Mr Schmidt (Kessler Automation, Suzhou) reports that heat pump #2 (LT-HP250, "
               "order 261115286) trips with P1 high-pressure alarm around 14:00 daily since "
               "Monday. Unit #1 is fine. He suspects the condenser fins are blocked by poplar "
               "seeds. Asked for an English-speaking engineer; call back before 17:00 CST.",
               "repair", "pending_customer", 50, agent="bob", assignee="eric",
               order="261115286", fields={"fault": "P1 high pressure trip, afternoons"},
               comments=(("Sent him the fin-cleaning checklist (KB) — waiting for photos of "
                          "the condenser before we send someone.", True),),
               tags=("english", "heat-pump")),
    DemoTicket("schmidt", "Refund request — AC delivered to the wrong site, order 261118902",
               "The floor-standing AC for Kessler's Wuxi office was delivered to the Suzhou "
               "plant instead. Customer no longer needs it and asks for a full refund rather "
               "than re-delivery.", "refund", "assigned", 26, agent="bob", assignee="bob",
               order="261118902",
               fields={"reason": "wrong_item", "amount": 7599}, tags=("english",)),
    # --- 嘉禾餐饮 (landline) ---------------------------------------------------------------
    DemoTicket("jiahe", "门店洗碗机 E4 漏水报警，晚市前要修好",
               "周主管来电（021 6123 4567）：南京西路店洗碗机（LT-DW13）报 E4，底盘有积水，"
               "已关进水阀。门店 17:00 开晚市，要求 15:00 前处理完。", "repair", "resolved",
               24 * 4, assignee="eric", priority="urgent", order="261027604",
               fields={"fault": "E4 漏水保护"}, visit_day=-4,
               comments=(("进水管接头老化渗漏，已更换并试机，E4 消除。", True),
                         ("建议门店每季度检查进水管，已写入保养建议。", False)),
               tags=("商用", "e4")),
    DemoTicket("jiahe", "4 台立柜空调超保，客户咨询有偿维保合同",
               "2020 年采购的 4 台立柜空调已过保（整机 6 年），客户咨询年度维保合同价格。"
               "已发报价单（邮件），客户内部审批中，下周一回电。", None, "pending_customer", 24 * 6,
               assignee="alice", order="260805113",
               comments=(("报价单：每台每年 680 元，含两次清洗 + 免费上门。", False),)),
    # --- 华锐精密 (Shenzhen landline) -------------------------------------------------------
    DemoTicket("huarui", "车间多联机制冷效果差，出风温度 18℃",
               "黄工来电：2 号车间（LT-MDV160）下午出风温度只有 18℃，设定 24℃ 制冷，车间实测"
               "29℃。怀疑缺冷媒（F0？面板无报错）。要求派工程师检测，工厂周日停产可进场。",
               "repair", "in_progress", 30, agent="bob", assignee="eric", order="261112047",
               fields={"fault": "制冷效果差，疑似缺冷媒"},
               comments=(("已约周日 9:00，带检漏仪和 R410A。", True),)),
    DemoTicket("huarui", "催开保修卡电子版，客户审计要用",
               "客户审计需要 6 台立柜空调的保修凭证。查询：2020 年购买，整机 6 年保修即将到期"
               "（剩余不到 1 个月）。已发送电子保修卡。", "account", "closed", 24 * 12,
               agent="bob", assignee="bob", order="260920358"),
    # --- other customers -----------------------------------------------------------------------
    DemoTicket("zhang_gf", "洗衣机物流显示已签收，客户没收到",
               "客户订单 261120663（滚筒洗衣机）物流昨晚显示「已签收」，但本人没收到，小区"
               "驿站也没有。要求今天查清，否则取消订单。", "delivery", "in_progress", 9,
               assignee="alice", order="261120663", priority="high",
               comments=(("物流部：派送员称放在 4 号楼门口，已要求派送员今天 16:00 前联系客户。",
                          False),)),
    DemoTicket("liu_jg", "冰箱冷藏室不制冷，冷冻正常",
               "客户：冷藏室温度 15℃ 左右，冷冻室正常 -18℃。已指导检查风门、关闭速冷，"
               "无改善。需上门。", "repair", "assigned", 28, assignee="eric", order="261014580",
               fields={"fault": "冷藏室不制冷，冷冻正常"}),
    DemoTicket("liu_jg", "老空调（2020）移机报价",
               "客户搬家，要把 2020 年买的挂机从东城移到通州。已告知移机费 300 元 + 材料费，"
               "客户考虑后再联系。", None, "cancelled", 24 * 40),
    DemoTicket("yang_lj", "净水器出水慢，App 显示滤芯正常",
               "客户反馈净水器出水比以前慢一半。已指导检查进水压力和废水比，客户去看一下再回电。",
               "repair", "pending_customer", 24 * 2, assignee="alice", order="261105774",
               fields={"fault": "出水慢"}),
    DemoTicket("zhao_xm", "VIP 投诉：维修师傅迟到 2 小时且未提前告知",
               "赵女士（VIP）投诉：约了上午 10 点上门修洗碗机，师傅 12 点才到，期间电话打不通。"
               "客户要求道歉并说明原因。", "complaint", "resolved", 24 * 8, agent="bob",
               assignee="bob", forward=True, priority="urgent", order="261030127",
               comments=(("已致电道歉，原因为前一单超时。赠送一次免费清洗服务。", True),
                         ("已与维修部沟通：超时 30 分钟以上必须提前电话告知客户。", False)),
               tags=("vip",)),
    DemoTicket("zhou_hf", "热水器安装后水温忽冷忽热",
               "客户新装热水器，洗澡时水温忽冷忽热。已询问：水压偏低，建议调高最低启动水流量"
               "设定。客户明早试一下再联系。", "repair", "resolved", 24 * 11,
               assignee="alice", order="261117390", fields={"fault": "水温不稳定"}),
    DemoTicket("wu_jy", "E21 报错，已指导重启无效",
               "滚筒洗衣机（XQG100-LT12）洗到一半停机报 E21，门锁住打不开，桶里有水。已指导断电"
               "重启、清理排水泵过滤器，仍报 E21。购买于 3 年多前，整机已过保（保修 3 年）。"
               "客户同意有偿维修，上门费 50 元已告知。", "repair", "in_progress", 27,
               assignee="eric", order="260409861",
               fields={"fault": "E21 排水超时，重启无效"},
               comments=(("初判排水泵损坏，带泵上门，配件费 180 元已报客户。", True),),
               tags=("e21", "过保")),
    DemoTicket("sun_jh", "空调还没到货，问预计几号送",
               "订单 261116025 显示已发货 6 天，物流停在杭州中转站。客户周末要装修收尾，"
               "希望周五前送到。", "delivery", "new", 4, order="261116025"),
    DemoTicket("ma_li", "冰箱有异味，咨询除味方法", "已按 KB 指导清洁和放置活性炭，客户满意。",
               None, "closed", 24 * 18, assignee="alice"),
    DemoTicket("zhu_hm", "热水器 E1，已过保，客户不同意收费",
               "热水器 2022 年购买，保修 3 年已过。客户认为只用了 4 年不该坏，不同意上门费。"
               "已上报主管。", "complaint", "assigned", 24 * 3, assignee="bob", order="260218447",
               priority="normal"),
    DemoTicket("hu_wb", "洗衣机脱水时剧烈晃动",
               "客户：脱水时整机跳动。询问得知安装后未拆运输螺栓（4 颗）。已指导拆除，问题解决。",
               "repair", "closed", 24 * 21, assignee="alice", order="261101559",
               fields={"fault": "脱水晃动（运输螺栓未拆）"}),
    DemoTicket("guo_xy", "净水器到货少了一根进水管", "订单 261119004，配件缺进水管，要求补发。",
               "delivery", "in_progress", 30, assignee="bob", order="261119004",
               comments=(("已安排补发，顺丰次日达。", True),)),
    DemoTicket("he_zy", "物业客户：多联机年度维保合同续签",
               "何经理询问维保合同续签，原合同下月到期。已转售后部报价。", None, "new", 7,
               channel="email"),
    DemoTicket("gao_yl", "App 绑定空调失败，提示「设备已被绑定」",
               "客户新换手机，重新绑定卧室空调提示设备已被他人绑定。核实购买人身份后需后台解绑。",
               "account", "resolved", 24 * 5, assignee="alice", order="260516302",
               comments=(("已核实手机号和订单号，后台解绑，客户重新绑定成功。", True),)),
    DemoTicket("luo_xd", "洗碗机洗不干净，碗上有白色水渍",
               "客户所在地区水质硬，未添加软水盐。已指导加盐并把软水档位调到 H4。",
               "repair", "resolved", 24 * 9, assignee="alice", order="261106238",
               fields={"fault": "洗涤效果差（水垢）"}),
    DemoTicket("zheng_ml", "冰箱噪音大，晚上嗡嗡响",
               "客户反映冰箱压缩机声音大。已询问摆放：离墙不足 5 cm。建议调整后观察两天。",
               "repair", "pending_customer", 24 * 4, assignee="bob", order="261025907",
               fields={"fault": "运行噪音大"}),
    DemoTicket("xie_zh", "酒店热泵机组化霜异常，请工程师到场",
               "谢工：2 号热泵机组夜间化霜时间过长（40 分钟），客房热水温度下降。要求本周内到场。",
               "repair", "assigned", 24 * 1.5, agent="bob", assignee="eric", order="261013550",
               priority="high",
               fields={"fault": "化霜时间过长"}, tags=("商用", "heat-pump")),
    DemoTicket("song_jy", "空调遥控器失灵，要求寄一个新的",
               "已确认换电池无效，遥控器在保修期内，免费寄送。", "delivery", "closed", 24 * 15,
               assignee="bob", order="261110416"),
    DemoTicket("tang_gd", "洗衣机门封圈发霉，问能否更换",
               "门封圈发霉属使用损耗，不在保修范围；已报价门封圈 120 元 + 上门费 50 元。",
               None, "resolved", 24 * 22, assignee="alice", order="260906671"),
    DemoTicket("han_xue", "洗碗机安装师傅收了 200 元打孔费，客户投诉",
               "客户称安装师傅额外收取 200 元打孔费，未出具收据。我司标准收费为 80 元/孔。",
               "complaint", "in_progress", 24 * 2, agent="bob", assignee="bob",
               order="261114093",
               comments=(("已联系网点核实，网点承认多收，同意退还 120 元。", False),)),
    DemoTicket("feng_zg", "3 台柜机申请延保，问价格", "客户咨询延长保修 3 年的价格。",
               None, "new", 2, channel="web"),
    DemoTicket("deng_lp", "热水器有燃气味，客户已关阀",
               "客户闻到燃气味，已指导关闭燃气总阀、开窗通风、不要开关电器，并建议联系燃气公司。"
               "维修部当天上门检查。", "repair", "closed", 24 * 25, assignee="eric",
               priority="urgent", order="260622318",
               fields={"fault": "燃气味（安全）"}, visit_day=-25,
               comments=(("现场检查：进气软管接口松动，已更换软管，检漏正常。", True),),
               tags=("安全",)),
    DemoTicket("xu_ming", "冰箱温度显示乱码", "面板显示「--」闪烁。需要上门检测显示板。",
               "repair", "new", 24 * 1, order="261107485",
               fields={"fault": "显示板乱码"}),
    DemoTicket("lin_yt", "空调安装预约改期到周日", "原约周六上午安装，客户临时出差，改周日下午。",
               "delivery", "resolved", 24 * 3, assignee="alice", order="261118177"),
    DemoTicket("qian_wei", "3 台洗碗机批量报 E9，怀疑门店电压不稳",
               "钱总：两家门店的 3 台洗碗机同一天报 E9（加热故障）。门店近期装了新的蒸箱，"
               "怀疑电压不稳。要求派人检测。", "repair", "in_progress", 24 * 2, agent="bob",
               assignee="eric", order="261009920", fields={"fault": "E9 加热故障（3 台）"},
               tags=("商用",)),
    DemoTicket("turner", "Hotel rooms AC: 3 units blowing warm air in cooling mode",
               "Mr Turner (Harbour Bay Hotel) — three of the twelve floor-standing units "
               "(order 261113602) blow warm air in cooling mode; error code F0 on two of them. "
               "Guests complaining. Asked for an engineer today; he is on +852 mobile.",
               "repair", "in_progress", 22, agent="bob", assignee="eric",
               order="261113602", priority="urgent",
               fields={"fault": "F0 low refrigerant on 2 units, warm air on 3"},
               comments=(("Engineer on site 15:30; leak found at the flare nut of unit 7.",
                          True),), tags=("english", "f0")),
    DemoTicket("nair", "Washer not yet delivered — tracking stuck since Friday",
               "Ms Nair's washer (order 261121038) shows 'in transit' since Friday. She moves "
               "in on Saturday and needs it installed the same day.", "delivery", "new",
               6, agent="bob", order="261121038", tags=("english",)),
    DemoTicket("collins", "Invoice in English for two fridges (order 261111745)",
               "Sarah Collins needs an English commercial invoice for her client's accounts. "
               "Sent the request to finance; she asked to be e-mailed.", "account", "resolved",
               24 * 7, agent="bob", assignee="bob", channel="email",
               comments=(("English invoice sent to sarah@collinsreed.example.co.uk.", True),)),
    DemoTicket("park", "Dishwasher leaves white residue — hard water?",
               "Canteen dishwasher (LT-DW13) leaves white film on glasses. Advised adding "
               "dishwasher salt and setting softener to H4 (see KB).", "repair", "closed",
               24 * 14, agent="bob", assignee="bob", order="261024389",
               fields={"fault": "white residue (hard water)"}),
    DemoTicket("chen", "客户来电咨询空调清洗，已转预约", "VIP 客户家 3 台挂机要清洗，已约下周六。",
               None, "cancelled", 24 * 35, assignee="alice",
               comments=(("客户来电取消：自己请了保洁公司。", False),)),
]

# Knowledge-base articles that answer the tickets above: (title, body, language, type key).
KB: list[tuple[str, str, str, str | None]] = [
    ("如何申请退款",
     "签收后 7 天内可无理由退货（商品完好、配件齐全）；15 天内质量问题可换货。运输损坏"
     "（如门体凹陷、外壳破损）请客户拍照，客服核对订单号后在售后系统提交退款，物流部上门取件，"
     "取件后 3–5 个工作日原路退回。VIP 客户优先处理。", "zh", "refund"),
    ("How to request a refund",
     "Returns are accepted within 7 days of delivery (unused, complete); quality faults can "
     "be exchanged within 15 days. For transport damage ask for photos, verify the order "
     "number, then file the refund in the after-sales system; logistics collects the unit and "
     "the money goes back within 3-5 business days.", "en", "refund"),
    ("多联机 / 空调报 E6：室内外机通讯故障",
     "1. 断电 5 分钟后重启；2. 检查室内外机通讯线是否松动、被老鼠咬断；3. 商用多联机需确认"
     "地址码未冲突。重启后仍报 E6，登记机型和序列号，派维修部上门（备件：通讯板）。",
     "zh", "repair"),
    ("空调不制冷 / 报 F0（冷媒不足）的排查",
     "先确认模式为制冷、设定温度低于室温、滤网清洁、外机通风良好。出风温度与室温温差小于"
     "8℃ 或报 F0，多为冷媒泄漏，需上门检漏补冷媒（保内免费，保外按价目表）。", "zh", "repair"),
    ("Air conditioner not cooling / F0 (low refrigerant)",
     "Check cooling mode, set temperature below room temperature, clean the filter and make "
     "sure the outdoor unit can breathe. F0, or air less than 8 °C cooler than the room, "
     "means a refrigerant leak: book a visit (free within warranty).", "en", "repair"),
    ("洗衣机 E21：排水超时",
     "清理机器右下角排水泵过滤器（先放水，准备毛巾）；检查排水管是否弯折、高于 1 米。处理后"
     "断电重启。仍报 E21 多为排水泵损坏，需上门更换（过保配件费 180 元 + 上门费 50 元）。",
     "zh", "repair"),
    ("燃气热水器 E1：点火失败",
     "确认燃气阀门已开、燃气表有余额、电池电量足（换 2 节 1 号电池）。冬季注意进水温度过低。"
     "仍报 E1 需上门检查点火针和比例阀。闻到燃气味：先关总阀、开窗、勿开关电器，立即派工。",
     "zh", "repair"),
    ("洗碗机洗不干净、有白色水渍",
     "硬水地区必须添加洗碗机专用软水盐，软水档位调至 H4 以上；亮碟剂不足也会留下水渍。",
     "zh", "repair"),
    ("Dishwasher leaves white residue",
     "Hard water: add dishwasher salt and set the softener to H4 or higher; top up the rinse "
     "aid.", "en", "repair"),
    ("澜泰保修政策（整机 / 主要部件）",
     "挂机、柜机整机 6 年；洗衣机、冰箱、热水器整机 3 年；洗碗机 2 年；净水器 1 年（滤芯为"
     "耗材，不保修）；商用多联机、热泵机组 2 年。保修期自购买日起算，以订单或发票为准。"
     "过保维修：上门费 50 元 + 配件费。", "zh", None),
    ("Lantai warranty policy",
     "Split and floor-standing ACs 6 years; washers, fridges and water heaters 3 years; "
     "dishwashers 2 years; water purifiers 1 year (filters are consumables); commercial VRF "
     "and heat pumps 2 years. Out of warranty: 50 CNY visit fee plus parts.", "en", None),
    ("快递未送达 / 显示签收但没收到",
     "查询物流单号；显示签收但客户未收到，转物流部联系派送员，24 小时内给客户答复。超过承诺"
     "时效 48 小时未送达，转物流部催件并主动告知客户。", "zh", "delivery"),
    ("Package not delivered",
     "Look up the tracking number; if it shows delivered but the customer has nothing, "
     "logistics calls the courier and we answer the customer within 24 h. 48 h past the "
     "promised date, forward to logistics and tell the customer.", "en", "delivery"),
    ("Heat pump high-pressure trip (P1)",
     "Usually a blocked condenser: poplar seeds, dust or leaves on the fins. Ask the customer "
     "for a photo; clean with low-pressure water from the inside out. If P1 persists, book an "
     "engineer to check the fan motor and refrigerant charge.", "en", "repair"),
    ("重置账户密码 / App 解绑设备",
     "核实客户手机号和订单号后发送重置短信，不得在电话中口述密码。设备被他人绑定：核实购买人"
     "身份后在后台解绑。", "zh", "account"),
]


# --- field dispatch (dispatch/) -------------------------------------------------------------
# Field engineers and their profiles, around Shanghai: (username, display name, region,
# base (lat, lon), skills). ``eric`` is one of USERS; the others are created by the demo
# loader with the same password. Regions are matched exactly by the ranking (None: any; the
# two 浦东 engineers are refused elsewhere).
ENGINEERS: list[tuple[str, str, str | None, tuple[float, float], list[str]]] = [
    ("eric", "Eric 陈工", None, (31.2286, 121.4480), ["repair", "field", "hvac", "vrf"]),
    ("liu", "Liu 刘师傅", "浦东", (31.2215, 121.5440), ["repair", "field", "hvac"]),
    ("zhao", "Zhao 赵工", None, (31.1128, 121.3817), ["repair", "field", "washer", "fridge"]),
    ("sun", "Sun 孙师傅", None, (31.4050, 121.4890), ["repair", "field", "hvac"]),
    ("zhou", "Zhou 周工", "浦东", (31.1880, 121.6000), ["repair", "field", "install", "hvac"]),
]

# Work orders of the demo day (today in the site's zone), on open repair tickets:
# (engineer or None for the board's "unassigned", window "HH:MM"-"HH:MM", (lat, lon), region,
# the visit's address (the site in Shanghai where the unit is, whatever the customer's own
# address), priority, parts planned). The first ones go to eric's own open tickets, the rest
# to the other open repair tickets.
WORK_ORDERS: list[tuple[str | None, str, str, tuple[float, float], str, str, str,
                        list[dict[str, object]]]] = [
    ("eric", "09:00", "11:00", (31.2397, 121.4998), "浦西", "上海市黄浦区南京东路 299 号 12 楼",
     "urgent", [{"name": "LT-MDV160 通讯板", "qty": 1}]),
    ("eric", "13:00", "15:00", (31.2165, 121.4420), "浦西", "上海市静安区常德路 800 号 3 号楼",
     "normal", []),
    ("eric", "15:30", "17:30", (31.1990, 121.4370), "浦西", "上海市徐汇区天钥桥路 580 号",
     "high", [{"name": "加热管 E9", "qty": 1}]),
    (None, "10:00", "12:00", (31.2330, 121.5270), "浦东", "上海市浦东新区陆家嘴环路 1000 号",
     "high", []),
    (None, "14:00", "16:00", (31.1520, 121.4050), "浦西", "上海市闵行区虹梅路 3000 号",
     "normal", []),
]


# --- field dispatch: installed equipment and a maintenance schedule -------------------------
@dataclass(frozen=True)
class DemoEquipment:
    order: str  # DemoOrder.number: the customer, model, serial, install date and warranty
    region: str
    lat: float
    lon: float
    address: str
    usage: int = 0  # running hours so far


EQUIPMENT: list[DemoEquipment] = [
    DemoEquipment("261008417", "浦东", 31.2203, 121.5447, "浦东新区浦江物业 3号楼屋顶", 9800),
    DemoEquipment("261109352", "浦东", 31.2215, 121.5452, "浦东新区浦江物业 设备机房", 4100),
    DemoEquipment("261115286", "闵行", 31.1120, 121.3810, "闵行区 Kessler 厂房 B 栋", 1500),
    DemoEquipment("261027604", "静安", 31.2290, 121.4480, "静安区嘉禾餐饮 中央厨房"),
    DemoEquipment("260301226", "徐汇", 31.1880, 121.4370, "徐汇区陈志强 住宅"),
]

#: (name, model, every_months, lead_days, required skills, duration minutes)
MAINTENANCE_SCHEDULES: list[tuple[str, str, int, int, list[str], int]] = [
    ("热泵季度保养 / Quarterly heat-pump service", "LT-HP250", 3, 14, ["hvac"], 90),
]
