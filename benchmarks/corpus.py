"""A seeded, deterministic synthetic corpus of short dating-platform chat messages.

About 98% of the messages are everyday chat between two members getting to know each other:
greetings, food, work, weather, plans, feelings, pets, films, some emoji, English words
(OK, APP, KTV), times and prices, and benign money talk (AA, a red packet from mum, a
friend who was scammed, "I sent you the cinema money"). About 2% are risky: transfer
requests, moves off the platform (加我薇信), investment, crypto and gambling lures, loan and
red-packet requests, task scams, fake customer service and withdrawal-fee blockers. Some
of the risky ones are disguised the way scammers write to get past keyword filters: spaces
or symbols inside words (转 账, 转*账), zero-width characters, emoji inside words
(转💰账), full-width letters (ＶＸ), traditional characters (轉賬), homophones (薇信, V信),
pinyin (zhuanzhang), initials (zz, yhk) and split radicals (钅艮行 for 银行).

Messages are built from templates and slot fillers with ``random.Random(seed)``: the same
``(n, seed)`` always gives the same corpus, on every platform and Python version (nothing
here iterates over a set or depends on string hashing). Nothing is read from disk.

    >>> from corpus import generate  # with benchmarks/ on sys.path
    >>> rows = generate(1000, seed=7)
    >>> len(rows), sum(label for _, label in rows)
    (1000, 20)

Run ``python benchmarks/corpus.py --n 20 --seed 1`` to print a sample, ``--jsonl`` for one
JSON row per line (text, label, category, disguise).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "BENIGN_CATEGORIES",
    "DEFAULT_N",
    "DEFAULT_SEED",
    "DISGUISES",
    "RISKY_CATEGORIES",
    "RISKY_SHARE",
    "Sample",
    "generate",
    "generate_samples",
]

DEFAULT_N = 100_000
DEFAULT_SEED = 20261128
#: Share of risky messages (the number is rounded: exactly ``round(n * RISKY_SHARE)``).
RISKY_SHARE = 0.02
#: Share of the risky messages written with a disguise.
DISGUISED_SHARE = 0.4


class Sample(NamedTuple):
    """One generated message with what the generator knows about it."""

    text: str
    label: int  # 1 risky, 0 benign
    category: str
    disguise: str  # "none" or one of DISGUISES


# ---------------------------------------------------------------------------------------
# slot fillers (shared by benign and risky templates)
# ---------------------------------------------------------------------------------------
_SLOTS: dict[str, tuple[str, ...]] = {
    "name": ("小雨", "阿杰", "琳琳", "浩子", "小美", "大伟", "婷婷", "老王", "晓晓", "阿敏"),
    "friend": ("我闺蜜", "我室友", "我同事", "我表妹", "我发小", "我哥们", "我同学", "我姐"),
    "food": ("火锅", "麻辣烫", "烤肉", "日料", "螺蛳粉", "兰州拉面", "煲仔饭", "酸菜鱼",
             "小龙虾", "披萨", "牛肉面", "饺子", "烧烤", "椰子鸡", "黄焖鸡", "寿司", "沙拉",
             "炸鸡", "肠粉", "羊肉串", "凉皮", "生煎", "韩式炸鸡", "粤式早茶"),
    "drink": ("奶茶", "咖啡", "拿铁", "柠檬茶", "冰美式", "杨枝甘露", "可乐", "啤酒", "豆浆"),
    "taste": ("太好吃了", "有点咸", "辣得我流眼泪", "一般般吧", "还挺香的", "排队排了好久",
              "下次带你去", "性价比超高", "分量好足", "有点踩雷"),
    "city": ("北京", "上海", "广州", "深圳", "杭州", "成都", "重庆", "武汉", "南京", "西安",
             "长沙", "苏州", "厦门", "青岛", "天津"),
    "district": ("朝阳", "海淀", "徐汇", "浦东", "天河", "南山", "西湖", "高新区", "江北",
                 "鼓楼", "雁塔"),
    "weather": ("下大雨了", "好热啊，三十五度", "降温了", "雾霾好重", "终于出太阳了",
                "刮大风", "下雪了！", "闷得要命", "天气超好", "又开始回南天了"),
    "place": ("看电影", "爬山", "逛街", "去海边", "吃火锅", "去看展", "骑车", "去公园散步",
              "打羽毛球", "唱K", "去宜家", "逛夜市", "去图书馆", "看livehouse", "去露营",
              "去动物园", "喝咖啡", "去滑雪"),
    "day": ("周六", "周日", "周五晚上", "明天", "后天", "这周末", "下周", "五一", "国庆"),
    "clock": ("7点", "七点半", "8点", "下午三点", "晚上九点", "10点", "下午两点", "六点半",
              "19:30", "18:00", "20:15", "9点多", "中午12点", "早上九点半"),
    "price": ("18块", "25块", "三十多", "99", "128", "两百多", "35元", "12块钱", "六十",
              "一百出头", "九块九", "168"),
    "job": ("程序员", "老师", "设计师", "护士", "销售", "会计", "产品经理", "医生", "律师",
            "HR", "公务员", "摄影师", "厨师", "运营"),
    "work_event": ("又加班了", "开了一天的会", "被老板骂了", "项目终于上线了", "改了八遍PPT",
                   "客户又改需求了", "摸鱼了一下午", "年终总结写完了", "出差刚回来",
                   "面试了三个人", "系统出bug了", "培训了三个小时", "汇报终于过了"),
    "doc": ("PPT", "Excel表", "周报", "方案", "代码", "标书", "论文"),
    "gadget": ("wifi", "电脑", "打印机", "蓝牙耳机", "路由器", "热水器"),
    "review_app": ("大众点评", "美团", "小红书", "抖音"),
    "feeling": ("好累", "好开心", "有点烦", "超级困", "有点emo", "心情不错", "想躺平",
                "好充实", "有点紧张", "终于放松了"),
    "pet": ("猫", "狗", "柯基", "橘猫", "布偶", "金毛", "仓鼠", "兔子", "柴犬"),
    "show": ("狂飙", "繁花", "漫长的季节", "甄嬛传", "三体", "奥本海默", "流浪地球",
             "那年花开", "请回答1988", "庆余年", "沙丘", "周处除三害"),
    "singer": ("周杰伦", "陈奕迅", "五月天", "邓紫棋", "李健", "毛不易", "孙燕姿", "薛之谦"),
    "game": ("王者", "原神", "吃鸡", "蛋仔", "金铲铲", "LOL", "Switch", "狼人杀"),
    "emoji": ("😂", "😊", "🥰", "😭", "🤔", "😅", "👍", "🙈", "😴", "🎉", "❤️", "🌹", "🤣",
              "😘", "🥺", "😁", "🐶", "🍜", "☕", "🌧️"),
    "en": ("OK", "ok", "APP", "KTV", "wifi", "PPT", "emo", "bug", "iPhone", "deadline",
           "vlog", "DIY", "GPS", "CEO", "Excel", "Kindle", "MBTI", "city walk"),
    "mbti": ("INFP", "ENFJ", "INTJ", "ESFP", "ISTJ", "ENTP"),
    "count": ("两", "三", "四", "五", "好几"),
    "hours": ("两个小时", "半小时", "一个多小时", "四十分钟", "一整天"),
    "relative": ("我妈", "我爸", "我奶奶", "我姥姥", "我舅舅", "我姑姑", "我哥", "我姐"),
    "bill": ("房租", "水电费", "物业费", "话费", "信用卡", "花呗", "房贷", "车贷"),
    "gift": ("花", "蛋糕", "口红", "一本书", "围巾", "耳机", "手办", "香水", "拼图"),
    "platform": ("美团", "淘宝", "京东", "拼多多", "大众点评", "小红书", "抖音", "B站"),
    "holiday": ("春节", "中秋", "端午", "元宵", "七夕", "生日", "过年"),
    # risky fillers
    "amount": ("五千", "3000", "两万", "8888", "一万二", "5000", "六千", "2万", "1.5万",
               "三千块", "9800", "四万"),
    "small_amount": ("50", "80", "120", "三十", "一百", "200", "六十八"),
    "lucky": ("520", "1314", "888", "666", "99", "5200"),
    "pct": ("30%", "百分之二十", "15%", "翻倍", "百分之五十", "每天3%", "40%"),
    "wxid": ("xiaoyu_0312", "lin8866", "Amy52013", "jie_2024", "mm199603", "chen_hao916",
             "yy_77521", "wxid_lq520"),
    "qq": ("3015578826", "2736619045", "1987345520", "915530286"),
    "mentor": ("导师", "老师", "表哥", "舅舅", "学长", "朋友的老板"),
    "asset": ("黄金", "原油", "外汇", "港股", "期货", "数字货币", "基金"),
    "reason": ("我妈住院了", "我店里资金周转不开", "我卡被冻结了", "我在外地钱包丢了",
               "房东催房租", "车撞了要赔钱", "公司压工资", "我爸做手术"),
}

_SLOT_RE = re.compile(r"\{(\w+)\}")


def _fill(template: str, rng: random.Random) -> str:
    """Replace each ``{slot}`` with a random filler (each occurrence drawn separately)."""
    return _SLOT_RE.sub(lambda m: rng.choice(_SLOTS[m.group(1)]), template)


# ---------------------------------------------------------------------------------------
# benign chat: (category, weight, templates)
# ---------------------------------------------------------------------------------------
_BENIGN: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("greeting", 12, (
        "早安", "早呀{emoji}", "晚安，好梦", "在吗？", "你好呀，很高兴认识你", "下班了吗",
        "睡了没", "刚醒{emoji}", "早上好，今天{weather}", "到家了吗", "嗨，{name}",
        "你好，我看你也喜欢{place}", "中午好，吃了没", "周末愉快{emoji}", "晚上好呀",
        "你在干嘛呢", "我回来啦", "刚洗完澡", "你头像是在{city}拍的吗", "哈喽",
        "终于下班了{emoji}", "起床了没，懒虫", "今天过得怎么样",
    )),
    ("short_reply", 10, (
        "哈哈哈哈", "好的", "嗯嗯", "真的假的", "对啊", "好呀{emoji}", "可以可以", "没问题",
        "哈哈你好可爱", "是吗", "我也是", "有道理", "笑死我了{emoji}", "那还挺好的", "行",
        "OK", "ok的", "收到", "好滴", "你呢？", "哇", "确实", "不会吧", "也还好啦", "嘿嘿",
        "羡慕了", "然后呢", "好吧{emoji}", "懂了", "{emoji}{emoji}",
    )),
    ("food", 12, (
        "中午吃了{food}，{taste}", "今晚想吃{food}", "你喜欢吃{food}吗", "刚点了{drink}，{price}",
        "我们楼下新开了家{food}店", "{drink}续命中{emoji}", "晚饭吃的{food}，{taste}",
        "你能吃辣吗", "推荐你去试试{district}那家{food}", "好饿啊，还有{hours}才下班",
        "周末自己在家做了{food}", "{drink}第二杯半价，{price}两杯", "减肥失败，又吃了{food}",
        "我不太吃香菜", "你是甜豆花还是咸豆花党", "今天的外卖送了{hours}才到",
        "{food}和{food}选一个", "我最近迷上了{drink}", "早餐就一个包子，{price}",
        "我做饭还行，下次做给你吃{emoji}", "这家{food}在{review_app}上评分好高",
    )),
    ("work", 12, (
        "今天{work_event}，{feeling}", "我是做{job}的，你呢", "明天{clock}要开会",
        "{work_event}{emoji}", "我们公司在{district}，通勤{hours}", "老板让我周末改{doc}",
        "下周要出差去{city}", "终于下班了，{feeling}", "你们公司加班多吗",
        "今天{hours}都在开会", "{friend}说我们行业今年不好做", "在写{doc}，头大",
        "这个月绩效还不错", "我今天请假了", "我们部门新来了个实习生，挺可爱的",
        "刚考完试，{feeling}", "论文还有一半没写", "今天做了{count}台手术，累瘫",
        "我在{city}工作{count}年了", "{job}这行其实挺辛苦的",
    )),
    ("weather", 6, (
        "{city}今天{weather}", "你那边{weather}吗", "出门记得带伞", "{weather}，不想出门",
        "今天降温，多穿点", "这天气适合睡觉{emoji}", "{city}的夏天太热了", "空调坏了，热死",
        "明天好像要下雨", "今天天气好好，想出去走走",
    )),
    ("plans", 12, (
        "{day}有空吗？一起{place}", "{day}{clock}在{district}见？", "要不要{day}去{place}",
        "我{day}有空，你呢", "{day}想去{place}，一起吗", "那就{clock}地铁站见",
        "我订好位子了，{clock}", "电影票我买好了，{day}{clock}场", "{day}你想做什么",
        "下次去{city}玩吧", "我们约在{district}吧，离你近", "好啊，{day}见{emoji}",
        "明天我可能要晚到半小时", "你到了告诉我", "我在门口了", "我快到了，还有五分钟",
        "{place}要带什么吗", "五一打算去{city}玩{count}天", "那个展{day}截止，要不要去",
    )),
    ("feelings", 10, (
        "和你聊天好开心{emoji}", "有点想你了", "今天{feeling}", "你笑起来一定很好看",
        "今天有点难过，不过和你聊完好多了", "谢谢你听我说这么多", "你好会聊天啊",
        "感觉我们挺聊得来的", "我其实有点慢热", "想见你{emoji}", "晚安，梦里见",
        "你是{mbti}吗，我是{mbti}", "我是那种很恋家的人", "我有点社恐哈哈",
        "第一次在这个APP上聊这么久", "你说话好温柔", "我想认真了解你",
        "昨天聊到好晚，今天困死了", "和你在一起很放松",
    )),
    ("hobby", 10, (
        "你看过{show}吗", "最近在追{show}，{taste}", "我超喜欢{singer}的歌", "你喜欢{singer}吗",
        "我家{pet}今天又拆家了{emoji}", "给你看我家{pet}", "我养了一只{pet}，三岁了",
        "周末一起打{game}吗", "我{game}打得很菜", "我最近在练瑜伽", "我每周跑步{count}次",
        "{singer}的演唱会抢票好难", "在看一本小说，停不下来", "最近迷上了拼乐高",
        "我在学吉他，手指好疼", "我拍照技术还行，下次给你拍", "你玩{game}吗",
        "这部电影豆瓣8.9分，值得一看", "你会游泳吗", "最近在学做{food}",
    )),
    ("daily", 8, (
        "刚打扫完卫生，{feeling}", "今天在家躺了一天", "快递到了，是我买的{gift}",
        "我在{platform}上买了个{gift}", "地铁好挤{emoji}", "手机快没电了", "我家{gadget}又坏了",
        "刚洗完衣服", "我要去超市买点东西", "今天走了两万步", "头发剪短了，有点后悔",
        "新买的{gift}到了", "车限号，只能坐地铁", "搬家好累，东西太多了", "失眠了{emoji}",
        "楼上在装修，吵死了", "我约了{clock}看牙", "今天体检，抽了{count}管血",
    )),
    ("english", 5, (
        "这个APP挺好用的", "我emo了，别理我", "OK，{day}见", "下载了一个记账APP",
        "我们去KTV吧", "今天{gadget}又出问题了", "你MBTI是什么", "这个APP好难用",
        "你用Kindle吗", "{day}去city walk吧", "Let's go!", "thx", "I'm fine哈哈",
        "我的{doc}被老板说不够professional", "{day}的deadline，救命", "OK OK", "bye~",
        "我在做一个vlog，{day}发你看", "周末DIY了一个蛋糕{emoji}", "你是{mbti}吧哈哈",
    )),
    ("money_talk", 8, (
        "上次的电影票钱我微信转你了，收一下哈", "这顿我请，下次你请{emoji}", "我们AA吧",
        "AA，一人{price}", "我妈{holiday}给我发了个红包{emoji}", "过年{relative}给了我个大红包",
        "{relative}说现在好多骗子，让我别乱转账", "看新闻说有人网恋被骗了好多钱，好吓人",
        "平台提醒说不要给陌生人转账，挺好的", "{friend}刷单被骗了三千，报警了",
        "这个月{bill}交完就没钱了{emoji}", "发工资啦，请你喝{drink}", "工资到账了，开心",
        "我在存钱准备买房", "{bill}还完了，一身轻松", "这个{gift}{price}，有点贵",
        "门票{price}一张，我已经买了", "打车{price}，比地铁贵好多", "群里抢红包抢了八毛",
        "我爸在学理财，天天看基金", "反诈APP你装了吗，挺有用的", "网上说的稳赚不赔都是骗人的",
        "谁让你转账都要多个心眼", "我把房租转给房东了", "你请我吃饭，我请你看电影，公平",
        "信用卡账单出来了，吓一跳", "他们说加微信带你投资的都是骗子",
        "我奶奶差点被冒充客服的骗了，幸好我在", "红包我收到啦，谢谢{relative}",
    )),
)

# ---------------------------------------------------------------------------------------
# risky messages: (category, weight, templates). ``[[word]]`` marks a word a scammer may
# disguise; the plain form drops the brackets.
# ---------------------------------------------------------------------------------------
_RISKY: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("money_transfer", 16, (
        "宝贝你先[[转账]]{amount}给我，{reason}，明天就还你",
        "亲爱的，能不能先[[转]]我{amount}？{reason}",
        "直接[[打钱]]到我[[银行卡]]上吧，{amount}就够",
        "你[[微信]][[转账]]给我{amount}，我这边急用",
        "扫我的收款码，{amount}，别问那么多",
        "钱[[转]]到这个[[银行卡]]上，是我表姐的卡，{amount}",
        "你先[[转]]{amount}过来，见面我再给你",
        "我们的未来你不想投入吗？[[转]]我{amount}就知道你有没有诚意",
        "机票钱你先帮我出一下，[[转账]]{amount}给我，到了就见你",
        "我被扣在海关了，要交{amount}手续费，你先[[打钱]]给我",
        "用支付宝[[转]]我{amount}吧，我微信被限额了",
    )),
    ("diversion", 18, (
        "这个平台聊天要扣金币，加我[[微信]]聊吧：{wxid}",
        "加我[[微信]]吧，{wxid}，这里我不常上",
        "我们去[[QQ]]上聊，号是{qq}",
        "下载个[[飞机]]，那边聊天更安全，搜{wxid}",
        "加个[[VX]]吧 {wxid}",
        "这里消息老是收不到，加我[[微信]]{wxid}",
        "你[[微信]]号多少？我加你，平台要封号了",
        "换个地方聊吧，加我[[QQ]] {qq}",
        "我不怎么上这个APP，[[微信]]同号，{wxid}",
        "加我[[微信]]发你照片，这里发不了图",
    )),
    ("investment", 14, (
        "我{mentor}带我做[[投资]]，一个月收益{pct}，[[稳赚不赔]]",
        "这个[[理财]]平台是内部渠道，保本保息，你先投{amount}试试",
        "跟着我{mentor}买{asset}，[[稳赚]]的，我上周刚赚了{amount}",
        "我舅舅在证券公司，有内幕消息，带你一起[[投资]]{asset}",
        "你先注册这个APP，[[充值]]{amount}，我带你做{asset}",
        "我在做{asset}，[[稳赚不赔]]，你要不要一起",
        "我{mentor}有个[[投资]]项目，内部名额，一个月回本",
        "你存银行那点利息太少了，跟我做{asset}，收益{pct}",
        "这个平台我做了半年了，[[稳赚]]，你先小投{amount}看看",
    )),
    ("crypto", 8, (
        "[[USDT]]搬砖，日收益{pct}，[[稳赚不赔]]",
        "买点[[虚拟币]]吧，我带你做合约，{pct}",
        "这个币马上要拉盘了，你先[[充值]]{amount}进去",
        "[[USDT]]换汇，每天稳定收益，你投{amount}就行",
    )),
    ("gambling", 8, (
        "这个[[博彩]]平台有漏洞，跟着我[[下注]]稳赢",
        "百家乐我研究出规律了，[[充值]]{amount}就能翻倍",
        "来玩时时彩，我有内部计划，跟着我[[下注]]",
        "我朋友在网上[[博彩]]一晚上赢了{amount}，带你玩",
        "这个彩票平台我有内部渠道，[[下注]]前跟我说，包中",
    )),
    ("loan_request", 12, (
        "{reason}，你能先[[借]]我{amount}吗，下个月发工资就还",
        "我这个月周转不开，[[借我]]{amount}好不好",
        "网贷逾期了，催收天天打电话，你能不能[[借]]我{amount}",
        "宝贝，{reason}，差{amount}，你帮帮我",
        "{reason}，[[借]]我{amount}应急，我给你打欠条",
        "你有没有花呗或者借呗，先帮我套{amount}出来",
        "我就差{amount}了，你帮我凑一下，见面就还你",
    )),
    ("red_packet", 8, (
        "今天{holiday}，给我发个[[红包]]表示一下嘛，{lucky}",
        "发个[[红包]]{lucky}才能证明你爱我",
        "你不给我发{lucky}的[[红包]]我就不理你了",
        "别人男朋友都发{lucky}，你就不能发个[[红包]]吗",
        "给我刷个礼物嘛，我在冲榜，{lucky}就行",
        "今晚直播间给我刷个火箭好不好，就当支持我",
    )),
    ("task_scam", 8, (
        "[[刷单]]兼职，一单佣金{small_amount}，动动手指就能赚",
        "点赞关注就能返利，日结{small_amount}，在家就能做",
        "做任务先垫付{amount}，完成后[[返佣]]",
        "招[[刷单]]员，在家用手机就能做，一天轻松赚{small_amount}，要做吗",
        "加入我们的点赞群，每完成一单任务返{small_amount}，前三单必返",
    )),
    ("fake_service", 6, (
        "【平台[[客服]]】您的账户异常，需要缴纳[[保证金]]{amount}解冻",
        "我是平台[[客服]]，您开通了会员自动续费，需要退款请提供[[验证码]]",
        "您好，我是理赔专员，您的快递丢失，加一下[[微信]]给您双倍赔偿",
        "您的[[银行卡]]存在风险，请把钱[[转]]到安全账户",
        "您好，您的征信有问题，需要配合注销校园贷账户，请下载会议APP",
    )),
    ("withdrawal_fee", 4, (
        "[[提现]]不了是因为流水不够，再[[充值]]{amount}就能提了",
        "你账户被冻结了，要交{amount}[[保证金]]才能[[提现]]",
    )),
)

#: Disguised forms a scammer uses for a marked word, by disguise kind. Spaces, symbols,
#: zero-width characters and emoji are inserted generically; full-width applies to ASCII
#: and traditional to the whole message.
_FORMS: dict[str, dict[str, tuple[str, ...]]] = {
    "转账": {"homophone": ("砖账", "转仗", "专账"), "pinyin": ("zhuanzhang", "zhuan zhang"),
             "split_radical": ("车专账", "转贝长", "车专贝长"), "initials": ("zz",)},
    "转": {"homophone": ("砖",), "pinyin": ("zhuan",), "split_radical": ("车专",)},
    "打钱": {"homophone": ("打前", "达钱"), "pinyin": ("daqian",),
             "split_radical": ("扌丁钅戋",)},
    "银行卡": {"homophone": ("银航卡", "垠行卡"), "pinyin": ("yinhangka",),
               "split_radical": ("钅艮行卡", "钅艮彳亍卡"), "initials": ("yhk",)},
    "微信": {"homophone": ("薇信", "威信", "V信", "徽信", "维信"),
             "pinyin": ("weixin", "wei xin"), "split_radical": ("微亻言", "彳散信"),
             "initials": ("wx", "vx")},
    "QQ": {"homophone": ("扣扣", "企鹅", "球球"), "pinyin": ("koukou",)},
    "VX": {"homophone": ("V信", "薇信")},
    "飞机": {"homophone": ("纸飞机", "灰机"), "pinyin": ("feiji",), "initials": ("TG",)},
    "投资": {"homophone": ("头资", "投姿"), "pinyin": ("touzi",),
             "split_radical": ("扌殳资", "投次贝")},
    "理财": {"homophone": ("理材",), "pinyin": ("licai",), "split_radical": ("王里贝才",)},
    "稳赚不赔": {"homophone": ("吻赚不陪", "稳撰不赔"), "pinyin": ("wen zhuan bu pei",),
                 "split_radical": ("稳贝兼不贝咅",)},
    "稳赚": {"homophone": ("吻赚", "稳撰"), "pinyin": ("wenzhuan",),
             "split_radical": ("稳贝兼",)},
    "充值": {"homophone": ("冲值", "充直"), "pinyin": ("chongzhi",)},
    "USDT": {"homophone": ("U币", "泰达币")},
    "虚拟币": {"homophone": ("需拟币", "虚拟必"), "pinyin": ("xunibi",)},
    "博彩": {"homophone": ("bo彩", "搏彩"), "pinyin": ("bocai",), "split_radical": ("十尃彩",)},
    "下注": {"homophone": ("吓注", "夏注"), "pinyin": ("xiazhu",), "split_radical": ("下氵主",)},
    "借": {"pinyin": ("jie",), "split_radical": ("亻昔",)},
    "借我": {"pinyin": ("jie wo",), "split_radical": ("亻昔我",)},
    "红包": {"homophone": ("红苞", "洪包"), "pinyin": ("hongbao",), "split_radical": ("纟工包",),
             "initials": ("hb",)},
    "刷单": {"homophone": ("刷丹", "唰单"), "pinyin": ("shuadan",), "initials": ("sd",)},
    "返佣": {"homophone": ("反佣",), "pinyin": ("fanyong",), "split_radical": ("返亻用",)},
    "客服": {"homophone": ("刻服",), "initials": ("kf",)},
    "保证金": {"homophone": ("保正金", "保证今"), "pinyin": ("baozhengjin",),
               "split_radical": ("亻呆讠正金",)},
    "验证码": {"homophone": ("艳证码",), "pinyin": ("yanzhengma",),
               "split_radical": ("马佥讠正石马",), "initials": ("yzm",)},
    "提现": {"homophone": ("提见", "题现"), "pinyin": ("tixian",),
             "split_radical": ("扌是现", "提王见")},
}

#: Simplified -> traditional, for the characters of the risky templates (Taiwan / HK
#: scripts are common in scam messages aimed at mainland users, to get past filters).
_S2T = str.maketrans({
    "转": "轉", "账": "賬", "钱": "錢", "银": "銀", "给": "給", "还": "還", "红": "紅",
    "发": "發", "贷": "貸", "资": "資", "赚": "賺", "赔": "賠", "稳": "穩", "导": "導",
    "师": "師", "带": "帶", "单": "單", "号": "號", "说": "說", "们": "們", "这": "這",
    "个": "個", "来": "來", "时": "時", "现": "現", "么": "麼", "后": "後", "让": "讓",
    "对": "對", "会": "會", "过": "過", "块": "塊", "万": "萬", "开": "開", "问": "問",
    "见": "見", "买": "買", "实": "實", "点": "點", "为": "為", "币": "幣", "赌": "賭",
    "证": "證", "验": "驗", "码": "碼", "务": "務", "费": "費", "户": "戶", "冻": "凍",
    "结": "結", "亲": "親", "爱": "愛", "宝": "寶", "贝": "貝", "妈": "媽", "术": "術",
    "网": "網", "计": "計", "划": "劃", "规": "規", "职": "職", "佣": "傭", "垫": "墊",
    "动": "動", "关": "關", "赞": "讚", "联": "聯", "飞": "飛", "机": "機", "载": "載",
    "软": "軟", "边": "邊", "请": "請", "专": "專", "员": "員", "双": "雙", "偿": "償",
    "递": "遞", "丢": "丟", "异": "異", "续": "續", "险": "險", "内": "內", "盘": "盤",
    "数": "數", "货": "貨", "汇": "匯", "换": "換", "诚": "誠", "应": "應", "条": "條",
    "赢": "贏", "扫": "掃", "难": "難", "压": "壓", "够": "夠", "东": "東", "车": "車",
    "额": "額", "礼": "禮", "节": "節", "门": "門", "从": "從", "当": "當", "长": "長",
    "气": "氣", "题": "題", "营": "營", "运": "運", "冲": "衝", "该": "該", "谁": "誰",
    "鸡": "雞", "头": "頭", "录": "錄", "纸": "紙", "报": "報", "调": "調", "帮": "幫",
    "欢": "歡", "听": "聽", "样": "樣", "认": "認", "识": "識", "话": "話", "间": "間",
})

#: Disguise kinds and their relative frequency among disguised risky messages.
DISGUISES: tuple[tuple[str, int], ...] = (
    ("spaces", 3), ("symbols", 3), ("emoji_inside", 2), ("zero_width", 1), ("fullwidth", 2),
    ("traditional", 3), ("homophone", 4), ("pinyin", 2), ("initials", 1),
    ("split_radical", 2),
)
_SYMBOLS = ("*", ".", "-", "/", "~", "|", "_", "、", "·")
_INSIDE_EMOJI = ("💰", "🌹", "❤️", "💕", "⭐", "🔥", "💵", "✨", "😘")
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\ufeff")
_MARK_RE = re.compile(r"\[\[(.+?)\]\]")

BENIGN_CATEGORIES: tuple[str, ...] = tuple(c for c, _, _ in _BENIGN)
RISKY_CATEGORIES: tuple[str, ...] = tuple(c for c, _, _ in _RISKY)


def _fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


def _interleave(word: str, rng: random.Random, pool: Sequence[str]) -> str:
    """``word`` with a filler from ``pool`` between some (at least one) of its characters."""
    if len(word) < 2:
        return word
    out = [word[0]]
    forced = rng.randrange(1, len(word))
    for i in range(1, len(word)):
        if i == forced or rng.random() < 0.5:
            out.append(rng.choice(pool))
        out.append(word[i])
    return "".join(out)


def _disguise_word(word: str, kind: str, rng: random.Random) -> str | None:
    """One disguised writing of ``word``, or None when ``kind`` does not apply to it."""
    forms = _FORMS.get(word, {})
    if kind in forms:
        return rng.choice(forms[kind])
    if kind in ("homophone", "pinyin", "initials", "split_radical"):
        return None
    if kind == "fullwidth":
        return _fullwidth(word) if any("!" <= c <= "~" for c in word) else None
    if kind == "traditional":
        t = word.translate(_S2T)
        return t if t != word else None
    if len(word) < 2:
        return None
    if kind == "spaces":
        return _interleave(word, rng, (" ", " ", "  "))
    if kind == "symbols":
        return _interleave(word, rng, _SYMBOLS)
    if kind == "emoji_inside":
        return _interleave(word, rng, _INSIDE_EMOJI)
    if kind == "zero_width":
        return _interleave(word, rng, _ZERO_WIDTH)
    raise ValueError(kind)


def _risky(rng: random.Random, disguised: bool) -> Sample:
    cat = _weighted(rng, [(c, w) for c, w, _ in _RISKY])
    templates = next(t for c, _, t in _RISKY if c == cat)
    text = _fill(rng.choice(templates), rng)
    if rng.random() < 0.2 and not text.startswith(("【", "您", "宝贝", "亲爱的")):
        text = _fill(rng.choice(_RISKY_START), rng) + text
    marked = _MARK_RE.findall(text)
    plain = _MARK_RE.sub(lambda m: m.group(1), text)
    if not disguised or not marked:
        return Sample(plain, 1, cat, "none")
    # Draw a disguise kind; when it cannot apply to this message, draw among the others.
    kinds = list(DISGUISES)
    while kinds:
        kind = _weighted(rng, kinds)
        if kind == "traditional":
            # the whole message, as a scammer typing in traditional script does
            if any(w.translate(_S2T) != w for w in marked):
                return Sample(plain.translate(_S2T), 1, cat, kind)
        elif kind == "fullwidth" and not any(c.isascii() for w in marked for c in w):
            # no ASCII in the marked words: full-width ids and amounts instead (ｌｉｎ８８６６)
            if any(c.isascii() and c.isalnum() for c in plain):
                return Sample(_fullwidth(plain), 1, cat, kind)
        else:
            target = rng.randrange(len(marked))
            form = _disguise_word(marked[target], kind, rng)
            if form is not None:
                seen = -1

                def swap(m: re.Match[str], form: str = form, target: int = target) -> str:
                    nonlocal seen
                    seen += 1
                    return form if seen == target else m.group(1)

                return Sample(_MARK_RE.sub(swap, text), 1, cat, kind)
        kinds = [(k, w) for k, w in kinds if k != kind]
    return Sample(plain, 1, cat, "none")


def _weighted(rng: random.Random, items: Sequence[tuple[str, int]]) -> str:
    total = sum(w for _, w in items)
    x = rng.randrange(total)
    for name, w in items:
        if x < w:
            return name
        x -= w
    raise AssertionError("unreachable")


_DECOR_END = ("~", "！", "哈哈", "哈哈哈", "呀", "啦", "{emoji}", "{emoji}", "。", "…")
_DECOR_START = ("哈哈", "嗯嗯", "对了，", "话说", "诶，", "其实", "好的，", "哦对，")
_RISKY_START = ("宝贝，", "亲爱的，", "对了，", "跟你说个事，", "{name}，", "哥哥，", "姐姐，")
_END_PUNCT = frozenset("？！。~…!?")


def _benign(rng: random.Random) -> Sample:
    cat = _weighted(rng, [(c, w) for c, w, _ in _BENIGN])
    templates = next(t for c, _, t in _BENIGN if c == cat)
    text = _fill(rng.choice(templates), rng)
    if cat != "short_reply":
        if rng.random() < 0.3 and text[-1] not in _END_PUNCT:
            text += _fill(rng.choice(_DECOR_END), rng)
        if rng.random() < 0.08:  # two thoughts in one message
            text = rng.choice(_DECOR_START) + text
    return Sample(text, 0, cat, "none")


def generate_samples(n: int = DEFAULT_N, seed: int = DEFAULT_SEED,
                     risky_share: float = RISKY_SHARE) -> list[Sample]:
    """``n`` messages, ``round(n * risky_share)`` of them risky, at seeded random positions."""
    if n < 0:
        raise ValueError("n must be >= 0")
    rng = random.Random(seed)
    k = round(n * risky_share)
    risky_at = set(rng.sample(range(n), k))
    out: list[Sample] = []
    for i in range(n):
        if i in risky_at:
            out.append(_risky(rng, rng.random() < DISGUISED_SHARE))
        else:
            out.append(_benign(rng))
    return out


def generate(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> list[tuple[str, int]]:
    """``n`` messages as ``(text, label)``, label 1 for risky (about 2%)."""
    return [(s.text, s.label) for s in generate_samples(n, seed)]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Print a sample of the synthetic chat corpus.")
    p.add_argument("--n", type=int, default=30)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--jsonl", action="store_true", help="one JSON object per message")
    p.add_argument("--risky", action="store_true", help="print only the risky messages")
    args = p.parse_args(argv)
    for s in generate_samples(args.n, args.seed):
        if args.risky and not s.label:
            continue
        if args.jsonl:
            print(json.dumps(s._asdict(), ensure_ascii=False))
        else:
            print(f"{s.label} {s.category:15s} {s.disguise:13s} {s.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
