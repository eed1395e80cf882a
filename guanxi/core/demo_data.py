"""Tables for the demo data set (``guanxi demo``): real names, places and phone prefixes."""

# fmt: off

# (username, role, team key, display name). Passwords are printed at the end of a run.
DEMO_USERS = [
    ("admin", "admin", None, "系统管理员"),
    ("manager", "manager", "east", "陈静"),
    ("sales", "sales", "east", "王磊"),
    ("sales2", "sales", "south", "刘芳"),
    ("service", "service", "service", "赵敏"),
    ("marketing", "marketing", None, "孙悦"),
    ("analyst", "analyst", None, "周婷"),
]
DEMO_PASSWORD_SUFFIX = "-demo-2026"

TEAMS = {
    "east": "华东销售部",
    "south": "华南销售部",
    "service": "客服中心",
}
# Which sales team looks after customers from a province (others: anyone).
PROVINCE_TEAM = {
    "浙江省": "east",
    "江苏省": "east",
    "上海市": "east",
    "安徽省": "east",
    "山东省": "east",
    "广东省": "south",
    "福建省": "south",
    "湖南省": "south",
    "云南省": "south",
}

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈"
)
# Frequent surnames weigh more: 王 李 张 刘 陈 are about a third of Chinese people.
SURNAME_WEIGHTS = [8, 8, 7, 6, 5] + [3] * 10 + [1] * (len(SURNAMES) - 15)
GIVEN_FEMALE = [
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "婷", "雪", "慧", "颖", "琳", "丹", "倩",
    "欣怡", "梓涵", "诗琪", "雨桐", "佳怡", "思琪", "晓燕", "美玲", "丽华", "秀英", "雅琴",
]
GIVEN_MALE = [
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "浩", "鹏", "斌", "辉",
    "宇轩", "子豪", "浩然", "俊杰", "志强", "建华", "文博", "天宇", "博文", "国栋", "海涛", "建国",
]
ENGLISH_FEMALE = ["Emily", "Sophie", "Grace", "Lucy", "Chloe", "Amy", "Linda", "Olivia"]
ENGLISH_MALE = ["David", "Michael", "Kevin", "Jason", "Tony", "Eric", "Daniel", "Leo"]
ENGLISH_SURNAMES = ["Chen", "Wang", "Li", "Zhang", "Liu", "Wong", "Lee", "Smith", "Brown", "Taylor"]
# Surnames that sound the same (same pinyin): for deliberate near-duplicates.
HOMOPHONES = {
    "张": "章", "王": "汪", "李": "黎", "刘": "柳", "杨": "阳", "黄": "皇", "吴": "伍",
    "徐": "许", "许": "徐", "何": "贺", "程": "成", "周": "舟", "林": "琳",
}

# Province → city → districts (real ones).
REGIONS = {
    "浙江省": {
        "杭州市": ["西湖区", "上城区", "拱墅区", "滨江区", "余杭区"],
        "宁波市": ["海曙区", "鄞州区", "江北区"],
        "温州市": ["鹿城区", "瓯海区", "龙湾区"],
    },
    "江苏省": {
        "南京市": ["玄武区", "秦淮区", "鼓楼区", "建邺区"],
        "苏州市": ["姑苏区", "吴中区", "虎丘区", "相城区"],
        "无锡市": ["梁溪区", "滨湖区", "新吴区"],
    },
    "上海市": {"上海市": ["浦东新区", "黄浦区", "徐汇区", "静安区", "长宁区", "闵行区"]},
    "北京市": {"北京市": ["朝阳区", "海淀区", "东城区", "西城区", "丰台区"]},
    "广东省": {
        "广州市": ["天河区", "越秀区", "海珠区", "番禺区"],
        "深圳市": ["南山区", "福田区", "罗湖区", "宝安区", "龙岗区"],
        "佛山市": ["禅城区", "南海区", "顺德区"],
    },
    "福建省": {
        "福州市": ["鼓楼区", "台江区", "仓山区"],
        "厦门市": ["思明区", "湖里区", "集美区"],
    },
    "四川省": {
        "成都市": ["锦江区", "青羊区", "武侯区", "成华区", "金牛区"],
        "绵阳市": ["涪城区", "游仙区"],
    },
    "湖北省": {
        "武汉市": ["江岸区", "武昌区", "洪山区", "汉阳区"],
        "宜昌市": ["西陵区", "伍家岗区"],
    },
    "湖南省": {
        "长沙市": ["岳麓区", "芙蓉区", "天心区", "开福区"],
        "株洲市": ["天元区", "芦淞区"],
    },
    "山东省": {
        "济南市": ["历下区", "市中区", "槐荫区"],
        "青岛市": ["市南区", "市北区", "崂山区", "黄岛区"],
    },
    "河南省": {
        "郑州市": ["金水区", "二七区", "中原区", "管城回族区"],
        "洛阳市": ["西工区", "洛龙区"],
    },
    "陕西省": {
        "西安市": ["雁塔区", "碑林区", "新城区", "未央区"],
        "宝鸡市": ["渭滨区", "金台区"],
    },
    "重庆市": {"重庆市": ["渝中区", "江北区", "南岸区", "沙坪坝区", "九龙坡区"]},
    "安徽省": {
        "合肥市": ["蜀山区", "包河区", "庐阳区"],
        "芜湖市": ["镜湖区", "弋江区"],
    },
    "辽宁省": {
        "沈阳市": ["和平区", "沈河区", "皇姑区"],
        "大连市": ["中山区", "西岗区", "沙河口区"],
    },
    "云南省": {"昆明市": ["五华区", "盘龙区", "官渡区"]},
}
# Big coastal provinces have more online shoppers.
PROVINCE_WEIGHTS = {
    "浙江省": 10, "江苏省": 9, "上海市": 8, "北京市": 7, "广东省": 12, "福建省": 5,
    "四川省": 5, "湖北省": 4, "湖南省": 4, "山东省": 6, "河南省": 4, "陕西省": 3,
    "重庆市": 3, "安徽省": 3, "辽宁省": 3, "云南省": 2,
}
ROADS = [
    "文三路", "中山路", "人民路", "解放路", "建设路", "长江路", "和平路", "南京路",
    "天府大道", "科技园路", "学院路", "滨江大道", "东风路", "新华路",
]

# Mobile prefixes of the three carriers (all valid for phonenumbers).
MOBILE_PREFIXES = [
    "138", "139", "135", "136", "137", "150", "151", "152", "158", "159", "186", "187",
    "188", "177", "180", "181", "189", "133", "153", "199", "130", "131", "132", "155",
    "156", "185", "176", "183", "182", "173",
]
EMAIL_DOMAINS = [
    "qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "gmail.com", "outlook.com",
]
EMAIL_DOMAIN_WEIGHTS = [30, 25, 10, 5, 10, 8, 6]

COMPANY_WORDS = [
    "云帆", "启航", "华信", "鼎盛", "汇通", "博雅", "星辰", "锦程", "恒泰", "嘉禾", "万象", "睿达",
]
COMPANY_TRADES = [
    "科技", "贸易", "电子商务", "文化传媒", "餐饮管理", "服饰", "家居用品", "信息技术",
]
CONTACT_TITLES = ["采购经理", "总经理", "行政主管", "财务经理", "运营总监", "采购专员"]

TAGS = [
    ("高价值", "#dc2626"),
    ("复购", "#16a34a"),
    ("新客", "#2563eb"),
    ("价格敏感", "#d97706"),
    ("企业采购", "#7c3aed"),
    ("会员", "#db2777"),
]
CATEGORIES = ["服装", "美妆", "数码", "家居", "食品"]
MEMBER_LEVELS = ["普通会员", "银卡会员", "金卡会员", "钻石会员"]
CUSTOM_FIELDS = [
    {"key": "wechat_id", "label": "微信号", "type": "text", "position": 1},
    {
        "key": "preferred_category",
        "label": "偏好品类",
        "type": "choice",
        "choices": CATEGORIES,
        "position": 2,
    },
    {
        "key": "member_level",
        "label": "会员等级",
        "type": "choice",
        "choices": MEMBER_LEVELS,
        "position": 3,
    },
    {"key": "vip_since", "label": "成为VIP日期", "type": "date", "position": 4},
]

# (value, weight) for the choice fields of a person.
STAGES = [("lead", 25), ("prospect", 20), ("customer", 35), ("vip", 8), ("dormant", 8), ("lost", 4)]
GRADES = [("A", 10), ("B", 25), ("C", 35), ("D", 10), ("", 20)]
SOURCES = [
    ("taobao", 18), ("tmall", 16), ("jd", 14), ("pinduoduo", 10), ("douyin", 12),
    ("wechat", 12), ("website", 6), ("offline", 5), ("referral", 5), ("other", 2),
]
COMPANY_SOURCES = ["exhibition", "referral", "website", "wechat"]
CONSENT_SOURCES = ["淘宝下单时勾选", "官网注册", "门店登记", "微信公众号关注", "客服电话确认"]
NOTES = [
    "喜欢简约风格，双十一会囤货。",
    "对价格比较敏感，优惠券转化率高。",
    "上次退货原因：尺码偏小，推荐时注意。",
    "偏好顺丰配送，工作日白天不方便收件。",
    "老客户介绍来的，回访态度很好。",
    "关注新品上架，希望第一时间通知。",
    "企业团购需求，年底采购量大。",
]
SERVICE_NOTES = [
    "客服回访：对上次购买满意，愿意推荐朋友。",
    "客服回访：物流慢有抱怨，已补发优惠券安抚。",
    "客服回访：咨询会员权益，已说明积分规则。",
]
# fmt: on
