"""The demo city's word lists: districts, streets, common names and the values each department uses."""

from __future__ import annotations

DISTRICTS = {
    "110101": "东城区",
    "110102": "西城区",
    "110105": "朝阳区",
    "110106": "丰台区",
    "110108": "海淀区",
}
STREETS = (
    "建国路",
    "长安街",
    "中关村大街",
    "学院路",
    "劲松路",
    "方庄路",
    "王府井大街",
    "金融街",
    "望京街",
    "丽泽路",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍建国红梅鑫宇浩然子涵欣怡俊杰雨萱思远佳琪文博晨阳一诺梓轩"
ETHNIC_GROUPS = ("Han",) * 18 + ("Hui", "Manchu", "Mongol", "Uyghur", "Zhuang", "Miao")
INDUSTRIES = (
    "科技",
    "贸易",
    "餐饮",
    "文化传媒",
    "建筑工程",
    "物流",
    "咨询",
    "医疗器械",
    "教育科技",
    "电子商务",
)
SCOPES = (
    "软件开发；技术服务",
    "日用百货销售",
    "餐饮服务",
    "广告设计；文化交流",
    "建筑工程施工",
    "道路货物运输",
    "企业管理咨询",
)
STATUSES = ("存续",) * 12 + ("在业",) * 5 + ("吊销",) * 2 + ("注销",)
PURPOSES = ("住宅",) * 7 + ("商业", "办公", "工业")
RATINGS = ("A", "A", "B", "B", "B", "M", "C", "D")
CRIMES = ("2015 theft, 1 year", "2011 fraud, 3 years", "2019 assault, 6 months", "2008 smuggling, 2 years")
DIAGNOSES = ("hypertension", "type 2 diabetes", "asthma", "depression")
DISABILITIES = ("grade 1", "grade 2", "grade 3", "grade 4")
