"""``chatguard redteam``: disguise every keyword of a rule pack and count what slips through.

Scammers write 转账 as 转 账, 轉賬, zhuanzhang, zz, 赚帐, 车专账 or 转 | 账 over two messages.
A rule pack is only as good as the disguises it survives, so this command attacks it the way
they do and reports, per rule and per trick, which variants the detector no longer reports:

    every keyword of every rule (and one probe phrase per word group of a ``near`` rule)
      │ put into a short carrier sentence of its category (「你先{kw}给我吧」), so that token
      │ boundaries and context windows are exercised, and checked plain: the baseline
      ▼ (keywords the detector misses even plain are reported apart, never counted as caught)
    tricks: named generators, each a few deterministic samples per keyword (``--samples``,
      │ ``--seed``); a trick that cannot apply to a keyword (pinyin of ``usdt``) is "n/a"
      ▼
    Detector.check_many in batches; a split variant goes through a Guard as two messages of
    one sender, the way it reaches a platform
      ▼
    caught: the same rule (or another rule of its category) still reported, unsuppressed, at
    the baseline's level or higher. Otherwise a miss, by "rule" (gone) or "level" (weaker).

Honesty: the generators must not replay the detector's own expansion tables
(``chatguard/_data/homophones.tsv``, ``split.tsv``, ``t2s.tsv``, ``aliases.tsv``), or every
variant would be caught by construction. The traditional-character, homophone and
split-radical tables below are this module's own, written from common usage. The one project
table reused is ``pinyin.tsv`` (readings of a hanzi are facts, not a design choice, and the
pinyin and initials tricks need a reading for every character), with a short list of our own
for words whose characters do not take their first reading (银行 is yinhang); the pinyin
tricks therefore measure whether the rules *use* pinyin variants, not the readings.

Exit status: 0 when the overall miss rate is at most ``--max-miss-rate``, 1 above it (a rule
pack's CI gate), 2 for bad usage (unknown trick or rule, missing pack).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TextIO

from ._tables import read_table
from .detector import Detector
from .errors import ConfigError
from .guard import Guard
from .models import Level, Verdict
from .privacy import mask_text
from .rules.loader import LoadedRule

__all__ = [
    "TRICKS",
    "RedTeamOptions",
    "RedTeamReport",
    "Trick",
    "add_redteam_parser",
    "run_redteam",
    "run_redteam_command",
]

# ---------------------------------------------------------------------------------------
# the red team's own tables
# ---------------------------------------------------------------------------------------
# Simplified → traditional for common characters: pairs of (simplified, traditional).
_S2T_PAIRS = (
    "账賬帮幫赚賺户戶钱錢单單机機个個现現转轉台臺币幣资資给給贷貸额額还還飞飛这這开開号號"
    "会會关關带帶员員务務证證闭閉视視发發冻凍赔賠销銷征徵来來费費着著银銀频頻录錄结結稳穩"
    "宝寶后後过過网網换換领領里裡图圖业業绩績职職无無买買载載规規时時门門赢贏计計划劃师師"
    "报報汇匯冲衝线線万萬数數购購联聯进進异異验驗亏虧财財几幾佣傭垫墊条條呗唄货貨动動权權"
    "风風软軟专專赌賭输輸导導赞贊们們学學复復链鏈矿礦险險认認项項监監误誤违違订訂余餘双雙"
    "码碼据據随隨华華讯訊养養达達产產远遠议議偿償体體盘盤黄黃连連国國礼禮脱脫辈輩离離维維"
    "军軍红紅审審级級园園东東欧歐杠槓杆桿装裝没沒话話医醫将將为為协協错錯丢丟场場乐樂电電"
    "独獨润潤仓倉对對册冊誉譽补補亲親爱愛见見顾顧驻駐锁鎖败敗够夠删刪记記铲鏟优優办辦当當"
    "兑兌虚虛拟擬约約质質节節砖磚预預轮輪纸紙吗嗎说說边邊疗療制製启啟写寫调調缉緝盗盜签簽"
    "递遞属屬赛賽车車运運游遊艺藝娱娛扑撲归歸奖獎准準鹅鵝涨漲负負责責听聽观觀丰豐凑湊满滿"
    "马馬农農卖賣脸臉实實赏賞惩懲罚罰云雲艳艷读讀评評丝絲轻輕松鬆妈媽络絡槛檻组組贝貝妇婦"
    "长長钟鐘梦夢难難队隊战戰尔爾丧喪积積迁遷闲閒备備槟檳价價请請两兩续續标標么麼间間问問"
    "题題让讓谁誰样樣点點头頭经經与與气氣书書鸟鳥鱼魚龙龍岁歲岛島区區县縣乡鄉厂廠广廣庆慶"
    "张張刘劉陈陳杨楊赵趙吴吳郑鄭韩韓孙孫许許邓鄧叶葉苏蘇汤湯蒋蔣谢謝识識讲講语語论論设設"
    "试試词詞该該详詳诉訴谈談课課贵貴贴貼贸貿较較辆輛选選遗遺邮郵铁鐵键鍵镜鏡闪閃闻聞阅閱"
    "阳陽阴陰际際陆陸雾霧须須顺順顿頓颜顏饭飯饮飲馆館驶駛骗騙鸡雞齐齊龄齡压壓厅廳历歷"
    "参參双雙变變叠疊后後园園围圍图圖圣聖场場坏壞块塊坚堅坛壇垒壘执執"
    "夺奪奋奮妆妝娇嬌孙孫宁寧实實宠寵审審宽寬尘塵尝嘗层層岗崗币幣帅帥师師币幣带帶"
    "庄莊庆慶库庫应應废廢开開异異弃棄张張弹彈归歸录錄彻徹忆憶态態怀懷总總恋戀恶惡"
    "惊驚惯慣戏戲战戰户戶扩擴扫掃扬揚护護担擔拥擁择擇挂掛挡擋挤擠挥揮损損换換据據"
    "摆擺摇搖击擊敌敵数數斗鬥断斷无無旧舊时時显顯晋晉晒曬晓曉暂暫术術杀殺杂雜权權"
    "条條来來极極构構枪槍柜櫃树樹样樣桥橋梦夢检檢楼樓欢歡毕畢气氣汉漢汤湯沟溝沪滬"
    "泪淚泽澤洁潔洒灑浅淺测測济濟浏瀏浓濃涂塗润潤涨漲渐漸湾灣湿濕满滿滚滾灭滅灯燈"
    "灵靈灾災炉爐点點炼煉烟煙烦煩烧燒热熱爷爺牵牽犹猶狮獅独獨猎獵猪豬献獻环環现現"
    "玛瑪电電画畫畅暢疗療盐鹽监監盖蓋盘盤着著矿礦码碼确確礼禮称稱种種积積税稅稳穩"
    "穷窮窃竊竞競笔筆笼籠签簽简簡类類粮糧紧緊纪紀约約级級纯純纳納纵縱纷紛纸紙线線"
    "练練组組细細织織终終绍紹经經绑綁结結绕繞绘繪给給络絡绝絕统統继繼绩績续續维維"
    "综綜绿綠编編缘緣缩縮网網罗羅职職联聯肃肅肠腸肤膚胜勝脑腦脏臟舰艦艺藝节節芦蘆"
    "苏蘇范範荐薦药藥获獲营營萝蘿虑慮虚虛蛋蛋蚁蟻补補装裝见見观觀规規视視览覽觉覺"
    "誉譽计計订訂认認讨討让讓训訓议議讯訊记記讲講许許论論设設访訪证證评評识識诉訴"
    "诊診词詞译譯试試诗詩诚誠话話询詢该該详詳语語误誤说說请請诸諸读讀课課谁誰调調"
    "谈談谋謀谓謂谢謝谱譜贝貝负負贡貢财財责責败敗货貨质質购購贯貫贱賤贴貼贵貴贷貸"
    "贸貿费費资資赌賭赏賞赔賠赖賴赚賺赛賽赞贊赠贈赢贏赵趙赶趕趋趨跃躍践踐车車轨軌"
    "转轉轮輪软軟轻輕载載较較辅輔辆輛辈輩辉輝输輸辞辭边邊达達迁遷过過运運还還这這"
    "进進远遠违違连連迟遲适適选選递遞逻邏遗遺邻鄰郑鄭酱醬释釋里裡钓釣钟鐘钢鋼钥鑰"
    "钱錢铁鐵铃鈴铺鋪链鏈销銷锁鎖锅鍋错錯键鍵镇鎮镜鏡长長门門闪閃闭閉问問闲閒间間"
    "闹鬧闻聞阅閱队隊阳陽阴陰阵陣阶階际際陆陸陈陳险險随隨隐隱难難雾霧静靜页頁顶頂"
    "项項顺順须須顾顧顿頓领領频頻题題额額风風飞飛饭飯饮飲饱飽饼餅馆館马馬驱驅驻駐"
    "验驗骑騎骗騙鱼魚鲜鮮鸡雞鸭鴨鹅鵝麦麥黄黃齐齊龙龍"
)
S2T: dict[str, str] = {
    _S2T_PAIRS[i]: _S2T_PAIRS[i + 1]
    for i in range(0, len(_S2T_PAIRS) - 1, 2)
    if _S2T_PAIRS[i] != _S2T_PAIRS[i + 1]
}

# Sound-alike substitutes for the characters of the bundled keywords ("char:alts" items).
_HOMOPHONE_ITEMS = (
    "转:赚撰篆 账:帐仗胀障 钱:前潜浅 款:宽欵 卡:咔咖 微:薇威维 信:芯心新 银:吟垠淫 行:航杭 "
    "红:宏虹洪 包:苞胞褒 投:头透 资:姿咨滋 充:冲聪 值:直植 现:线先 金:今斤津 提:题啼 借:介届 "
    "贷:代袋带 赚:攥撰 付:副富赴 收:手首 帮:邦绑 台:抬苔 平:苹评萍 返:反饭 币:必毕璧 额:俄鹅 "
    "刷:耍 单:丹担 户:护互 机:鸡基 号:豪浩 注:住驻 利:力立丽 益:亿议 博:搏薄伯 赌:堵睹肚 "
    "彩:菜采 群:裙 码:马玛 扫:嫂 稳:吻问 赔:陪培 保:宝饱 证:正症 冻:动洞 结:节洁 解:姐介 "
    "费:飞废 押:压鸭 息:吸惜 股:古谷鼓 货:获或 赢:营迎 输:书叔 盈:营迎 财:才材 理:里礼 "
    "汇:会惠 购:够构 兼:间尖 职:只直 任:认人 务:物雾 客:课克 服:福伏 员:元园 官:关管 方:放芳 "
    "网:往望 链:连恋 矿:况旷 挖:哇娃 约:月跃 陪:培赔 裸:倮罗 视:是事 频:贫品 聊:辽撩 加:家佳嘉 "
    "友:有又 私:思丝 点:店电 流:留刘 洗:喜 代:带待 跑:泡 分:份粉 万:完玩湾 千:签迁 百:白摆 "
    "元:圆园原 下:夏吓 载:再在 件:见间 指:只纸 定:订顶 部:步布 消:销宵 度:渡杜 清:青情 "
    "退:腿蜕 票:漂飘 杀:沙煞 猪:朱珠诸 盘:攀判 导:到道 师:诗施 带:代戴 老:劳 本:奔苯 倍:被贝 "
    "翻:番帆 操:曹糙 作:做坐 开:凯慨 打:达搭 发:法罚 交:教胶 取:去娶 征:争睁 销:消萧 关:官观 "
    "闭:必避 录:路鹿 图:涂兔 截:捷劫 绩:记迹 生:升声 买:麦迈 卖:麦迈 易:亿艺 安:按岸 家:加佳 "
    "门:们闷 计:记寄 划:话化 报:抱暴 工:公功 支:知之 冲:充 照:找赵 身:深申 份:分粉 线:现先 "
    "数:书树 联:连莲 便:变遍 屏:平瓶 进:近尽 验:严艳 亏:盔愧 道:到倒 前:钱潜 佣:用拥 垫:电店 "
    "喝:和河 条:调跳 看:砍 商:伤上 动:冻洞 权:全泉 量:两亮 风:疯峰 全:权泉 享:想响 存:村寸 "
    "查:茶察 失:师诗 专:砖 中:钟忠 拿:哪那 赞:攒 修:休秀 复:富付 化:话花 花:华 抵:底低 "
    "秒:妙庙 合:和河 险:显 认:任人 项:向像 系:戏细 监:间坚 控:空孔 扣:口寇 误:物雾 程:成城 "
    "违:为围 订:定钉 余:鱼于 密:蜜米 双:爽霜 算:蒜酸 起:启气 据:句巨 华:滑 讯:迅训 管:馆 "
    "核:盒 零:灵铃 逾:鱼于 放:房 养:样氧 达:答 产:铲 新:心信 封:峰 限:陷 替:体涕 向:像相 "
    "议:义意 嫌:闲咸 偿:常尝 率:律 律:绿虑 油:游由 国:果锅 事:是市 礼:里李 物:雾 脱:托拖 "
    "心:新芯 情:晴请 离:黎梨 维:唯围 军:君均 级:及极 园:圆 空:孔 升:声 泰:太态 狗:够苟 "
    "杠:钢港 杆:干赶 售:受兽 募:幕暮 装:庄状 话:画 医:衣依 协:鞋斜 错:措挫 菜:才 站:战占 "
    "场:常厂 电:店垫 澳:奥傲 独:读毒 渠:区曲 润:闰运 仓:苍舱 品:拼聘 始:使史 市:是事 路:鹿露 "
    "对:队兑 朋:棚鹏 册:测策 榜:棒绑 送:宋颂 面:免棉 誉:玉遇 补:卜捕 婆:破坡 亲:青琴 爱:碍艾 "
    "婚:昏荤 顾:故固 驻:住注 房:防 锁:所索 败:拜摆 够:构 超:抄潮 删:山闪 记:寄 铲:产 优:忧悠 "
    "办:半伴 免:勉 批:披皮 兑:队 虚:需须 拟:你泥 坊:防 圈:劝 质:制治 授:受兽 节:洁 搬:般班 "
    "砖:专 预:玉遇 轮:论伦 纸:只指 说:硕 疗:辽 助:住注 制:质治 启:起气 填:田甜 写:血谢 配:佩 "
    "调:条跳 缉:集急 捕:补哺 冒:帽贸 盗:到道 犯:饭范 罪:最醉 签:千迁 递:地第 裹:果锅 属:数鼠 "
    "赛:塞 车:扯 运:云韵 艇:挺停 荷:和合 球:求秋 游:油由 娱:鱼余 扑:铺葡 克:课刻 棋:旗期 "
    "牌:排派 奖:讲蒋 企:起启 鹅:额饿 涨:长仗 跌:叠蝶 负:付富 责:则泽 教:叫较 源:元原 厚:后候 "
    "速:素诉 凑:臭 满:曼慢 港:岗钢 脸:练恋 实:十时 赏:上尚 播:波拨 罚:罚伐 粉:份 丝:思私 "
    "淘:逃桃 拍:排派 抖:斗豆 音:阴因 络:落洛 槛:坎 首:手 派:排 组:祖阻 掉:调吊 媳:息惜 "
    "妇:付富 傻:沙啥 嫁:价驾 娶:取去 命:明名 梦:蒙孟 队:对兑 融:容荣 蓄:续序 拆:柴 迁:千签 "
    "价:驾架 续:序絮 标:表彪 我:窝沃 你:妳尼 一:衣依 不:布步 出:初 到:道 就:旧救 多:朵 "
    "用:拥 飞:非菲 会:汇惠 跟:根 人:仁 地:第弟 个:各 来:莱赖 做:作 期:七其 子:紫 址:只 "
    "通:同桐 手:守 高:糕搞 越:月 租:足族 宝:保饱 套:淘 后:厚候 过:锅果 瓶:凭 快:块筷 "
    "天:添田 大:达 里:理李 在:再 外:歪 业:夜页 无:吴舞 去:趣 有:友又 接:街节 被:备倍 "
    "规:归贵 时:十实 以:已亿 令:另领 几:机鸡 很:狠 先:仙鲜 未:味位 常:长场 共:公供 "
    "走:奏 完:玩晚 学:雪穴 找:照 小:晓笑 可:渴 只:之知 少:绍 把:爸霸 名:明鸣 果:国过 "
    "随:岁碎 再:在 得:德 原:元源 和:河合 足:族租 才:财材 座:做坐 京:经惊 粒:力立 白:百 "
    "低:滴底 火:伙活 字:自紫 所:锁索 目:木幕 障:账仗 每:美妹 远:院愿 葵:魁奎 涉:社设 "
    "体:替提 位:为味 司:思私 黄:皇煌 连:莲联 忙:盲茫 同:通童 箭:剑见 成:城诚 辈:贝备 "
    "想:向享 等:灯登 审:婶 校:笑效 东:冬懂 除:厨 也:野夜 需:虚 口:扣 欧:偶鸥 器:气起 "
    "吧:八巴 没:美妹 自:字 将:江讲 月:越约 为:位围 案:按暗 三:叁散 菠:波播 必:毕币 "
    "之:知只 躺:趟 喊:汉憾 殊:书叔 知:之只 今:金斤 又:有友 要:药耀 嘉:加佳 年:念 乖:拐 "
    "见:件建 是:事市 海:害嗨 孤:姑估 洋:阳羊 杯:悲背 法:发 当:挡党 些:鞋斜 承:成城 "
    "狐:胡湖 狸:梨离 比:笔彼 太:泰态 性:姓幸 吗:马码 边:编鞭 式:是事 明:名鸣 力:立利 "
    "逮:代带 六:陆溜 北:背贝 幸:性杏 真:针珍 育:玉遇 艺:义亿 虎:护户 德:得 州:周舟 "
    "炸:诈榨 归:规龟 精:经晶 析:西希 听:厅停 按:安暗 料:廖 周:州舟 观:关官 丰:风封 番:翻帆 "
    "干:赶甘 二:贰而 恒:横衡 美:每妹 基:机鸡 宗:综踪 岸:安按 马:码玛 候:后厚 农:浓侬 "
    "四:寺思 那:哪拿 主:住注 波:播拨 惩:成城 穿:川船 云:运匀 光:广逛 雅:亚压 艳:燕验 "
    "床:创闯 读:毒独 评:平萍 轻:青清 松:送宋 妈:码马 拉:啦辣 待:代带 福:服幅 致:至志 "
    "正:证政 直:值植 贝:被倍 肝:干甘 瓜:挂刮 长:常场 活:火伙 钟:中忠 唯:维围 排:牌派 "
    "难:南男 受:售兽 战:站占 石:十时 尔:耳饵 街:接节 籍:及极 迪:笛敌 拜:败摆 柬:简减 "
    "埔:浦普 寨:债 役:亿义 丧:桑嗓 偶:欧藕 孩:还海 寂:记寄 寞:莫墨 夫:福服 妻:七期 "
    "积:机基 休:修羞 闲:嫌咸 备:被倍 最:罪醉 香:想乡 槟:宾滨 桃:淘逃 请:情晴 两:量亮 "
    "持:迟池 冷:愣 密:秘 乐:勒 内:馁 给:几 回:汇 罪:醉 上:尚 了:乐"
)
HOMOPHONES: dict[str, str] = {}
for _item in _HOMOPHONE_ITEMS.split():
    _ch, _, _alts = _item.partition(":")
    HOMOPHONES[_ch] = HOMOPHONES.get(_ch, "") + "".join(
        a for a in _alts if a != _ch and a not in HOMOPHONES.get(_ch, ""))

# Split-radical (拆字) writings: components side by side ("char:form" items, one form each;
# a few use the true radical code points people paste, such as ⻖ and ⺮).
_SPLIT_ITEMS = (
    "银:钅艮 钱:钅戋 链:钅连 错:钅昔 锁:钅琐 钟:钅中 铁:钅失 销:钅肖 铲:钅产 钓:钅勺 "
    "账:贝长 财:贝才 赚:贝兼 赔:贝咅 购:贝勾 贴:贝占 赌:贝者 败:贝攵 贷:代贝 费:弗贝 资:次贝 "
    "货:化贝 贝:目八 转:车专 输:车俞 轮:车仑 软:车欠 较:车交 轻:车圣 "
    "红:纟工 约:纟勺 级:纟及 线:纟戋 练:纟东 组:纟且 结:纟吉 给:纟合 绑:纟邦 统:纟充 "
    "续:纟卖 维:纟隹 绩:纟责 络:纟各 纸:纟氏 缉:纟咠 "
    "信:亻言 借:亻昔 代:亻弋 保:亻呆 付:亻寸 你:亻尔 们:亻门 份:亻分 位:亻立 体:亻本 "
    "作:亻乍 便:亻更 值:亻直 做:亻故 倍:亻咅 佣:亻用 任:亻壬 债:亻责 偿:亻尝 "
    "证:讠正 记:讠己 话:讠舌 说:讠兑 请:讠青 认:讠人 订:讠丁 计:讠十 讯:讠卂 议:讠义 "
    "误:讠吴 评:讠平 读:讠卖 调:讠周 "
    "打:扌丁 扣:扌口 扫:扌彐 投:扌殳 押:扌甲 抽:扌由 拉:扌立 指:扌旨 按:扌安 换:扌奂 "
    "提:扌是 操:扌喿 授:扌受 接:扌妾 抵:扌氐 抖:扌斗 拍:扌白 控:扌空 拆:扌斥 "
    "找:扌戈 技:扌支 扑:扌卜 "
    "汇:氵匚 洗:氵先 活:氵舌 海:氵每 没:氵殳 法:氵去 油:氵由 注:氵主 清:氵青 消:氵肖 "
    "涨:氵长 满:氵两 润:氵闰 源:氵原 流:氵㐬 "
    "好:女子 妈:女马 姐:女且 妹:女未 娱:女吴 婚:女昏 如:女口 她:女也 媳:女息 "
    "明:日月 时:日寸 晚:日免 股:月殳 脱:月兑 服:月艮 期:其月 朋:月月 肝:月干 脸:月佥 "
    "利:禾刂 秒:禾少 积:禾只 私:禾厶 程:禾呈 和:禾口 "
    "加:力口 功:工力 动:云力 助:且力 "
    "额:客页 领:令页 顺:川页 预:予页 项:工页 顾:厄页 "
    "视:礻见 福:礻畐 礼:礻乚 社:礻土 "
    "码:石马 确:石角 吗:口马 吧:口巴 唯:口隹 喝:口曷 号:口丂 "
    "陪:阝咅 际:阝示 队:阝人 险:阝佥 院:阝完 部:咅阝 都:者阝 "
    "取:耳又 双:又又 对:又寸 欢:又欠 难:又隹 "
    "现:王见 玩:王元 理:王里 球:王求 "
    "特:牛寺 物:牛勿 "
    "快:忄夬 情:忄青 性:忄生 "
    "骗:马扁 验:马佥 驻:马主 "
    "群:君羊 彩:采彡 粉:米分 料:米斗 精:米青 "
    "数:娄攵 收:丩攵 放:方攵 救:求攵 教:孝攵 "
    "次:冫欠 冲:冫中 冷:冫令 准:冫隹 冻:冫东 "
    "猪:犭者 狗:犭句 狐:犭瓜 狸:犭里 "
    "跑:足包 路:足各 跟:足艮 "
    "站:立占 "
    "杀:乂木 机:木几 杠:木工 杆:木干 林:木木 根:木艮 核:木亥 "
    "卡:上卜 外:夕卜 "
    "到:至刂 别:另刂 "
    "裸:衤果 补:衤卜 被:衤皮 "
    "赢:亡口月贝凡 "
    "款:士示欠 "
    "博:十尃 "
    "聊:耳卯 "
    "频:步页 "
    "微:彳山一几攵 "
)
SPLIT_RADICALS: dict[str, str] = {}
for _item in _SPLIT_ITEMS.split():
    _ch, _, _form = _item.partition(":")
    if _form and _form != _ch:
        SPLIT_RADICALS[_ch] = _form

_SYMBOLS = "*.-|~_/·#+=^"
_EMOJI = ("💰", "❤️", "😊", "🌹", "👍", "🔥", "✨", "🙏", "💕", "😘", "🐷", "🧧")
_CN_DIGITS = "〇一二三四五六七八九"
_CN_UPPER = "零壹贰叁肆伍陆柒捌玖"
_CIRCLED = "⓪①②③④⑤⑥⑦⑧⑨"
_FULL_DIGITS = "０１２３４５６７８９"
_CN_TO_DIGIT = {c: str(i) for i, c in enumerate(_CN_DIGITS)} | {"零": "0", "两": "2"}

# Carrier sentences per category: the keyword sits inside ordinary words on both sides. A
# carrier must raise nothing of its category by itself (run_redteam checks it and leaves
# such categories out of the "same category" rescue), or its variants would pass for free.
_CARRIERS: Mapping[str, str] = {
    "money_transfer": "宝贝你先{kw}吧，今天就要",
    "investment": "我导师说{kw}，你也试试",
    "gambling": "晚上一起玩{kw}，我带你",
    "crypto": "你那边{kw}方便吗，我教你",
    "loan_request": "亲爱的{kw}，我下周还你",
    "red_packet": "今天情人节{kw}嘛宝贝",
    "diversion": "有空的话{kw}吧，我等你",
    "task_scam": "有个活{kw}，很简单的",
    "fake_service": "您好这边是客服，{kw}请配合",
    "venue_lure": "晚上出来{kw}好不好",
    "credit_loan": "您好，{kw}需要尽快处理",
    "withdrawal_fee": "客服说{kw}才行",
    "money_mule": "帮我个忙，{kw}有好处",
    "sextortion": "你的视频在我这，{kw}你看着办",
    "contact_id": "我的号是{kw}，加一下",
    "payment_id": "直接{kw}就行",
    "amount": "先给我{kw}就好",
    "affection": "我想你了{kw}，你呢",
    "victim_cue": "我最近{kw}，好难过",
}
_DEFAULT_CARRIER = "那个{kw}的事你看一下"


# ---------------------------------------------------------------------------------------
# tricks
# ---------------------------------------------------------------------------------------
Generator = Callable[[str, random.Random, int], list[tuple[str, ...]]]


@dataclass(frozen=True, slots=True)
class Trick:
    """A named disguise: ``generate(keyword, rng, n)`` gives up to ``n`` distinct variants,
    each a tuple of message pieces (one piece, or two for a split over two messages); an
    empty list means the trick does not apply to that keyword."""

    name: str
    description: str
    generate: Generator
    messages: int = 1


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _distinct(make: Callable[[int], str | None], n: int, original: str,
              attempts: int = 6) -> list[tuple[str, ...]]:
    """Up to ``n`` distinct results of ``make(i)`` other than the original keyword; a few
    tries per sample, so short keywords with few possible variants end early."""
    out: dict[str, None] = {}
    for i in range(n * attempts):
        if len(out) >= n:
            break
        v = make(i)
        if v is not None and v != original:
            out.setdefault(v, None)
    return _singles(out, original, n)


def _singles(forms: Iterable[str], original: str, n: int) -> list[tuple[str, ...]]:
    """The first ``n`` distinct forms that differ from the original, as one-piece variants."""
    out: list[tuple[str, ...]] = [(f,) for f in dict.fromkeys(forms) if f != original]
    return out[:n]


def _gaps(kw: str, rng: random.Random, i: int) -> list[int]:
    """Gap positions to fill: every gap for the first sample, a random non-empty subset later."""
    gaps = list(range(1, len(kw)))
    if i == 0 or len(gaps) == 1:
        return gaps
    return sorted(rng.sample(gaps, rng.randint(1, len(gaps))))


def _insert(kw: str, gaps: Sequence[int], pick: Callable[[], str]) -> str:
    pieces: list[str] = []
    prev = 0
    for g in gaps:
        pieces.append(kw[prev:g])
        pieces.append(pick())
        prev = g
    pieces.append(kw[prev:])
    return "".join(pieces)


def gen_spaces(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """Spaces between characters (sometimes two, sometimes the ideographic space)."""
    if len(kw) < 2:
        return []
    return _distinct(lambda i: _insert(kw, _gaps(kw, rng, i),
                                       lambda: rng.choice((" ", " ", "  ", "\u3000"))), n, kw)


def gen_symbols(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """Punctuation between characters (转*账, 转|账, 转.账)."""
    if len(kw) < 2:
        return []
    return _distinct(lambda i: _insert(kw, _gaps(kw, rng, i),
                                       lambda: rng.choice(_SYMBOLS)), n, kw)


def gen_emoji(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """Emoji between characters (转💰账)."""
    if len(kw) < 2:
        return []
    return _distinct(lambda i: _insert(kw, _gaps(kw, rng, i),
                                       lambda: rng.choice(_EMOJI)), n, kw)


def _to_fullwidth(ch: str) -> str:
    return chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch


def _substituted(kw: str, rng: random.Random, n: int, idx: list[int],
                 swap: Callable[[str], str]) -> list[tuple[str, ...]]:
    """Variants with ``swap`` applied to the characters at ``idx``: all of them in the
    first variant, a random non-empty subset in each later one."""
    if not idx:
        return []

    def make(i: int) -> str:
        chosen = set(idx) if i == 0 else set(rng.sample(idx, rng.randint(1, len(idx))))
        return "".join(swap(ch) if j in chosen else ch for j, ch in enumerate(kw))

    return _distinct(make, n, kw)


def gen_fullwidth(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """Full-width Latin letters and digits (ＵＳＤＴ); only for keywords that have them."""
    idx = [i for i, ch in enumerate(kw) if ch.isascii() and ch.isalnum()]
    return _substituted(kw, rng, n, idx, _to_fullwidth)


def gen_traditional(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """Traditional characters (轉賬 for 转账), from this module's own table."""
    idx = [i for i, ch in enumerate(kw) if ch in S2T]
    return _substituted(kw, rng, n, idx, S2T.__getitem__)


@cache
def _pinyin_table() -> Mapping[str, tuple[str, ...]]:
    """The project's reading table (immutable package data, so cached once)."""
    return {key: tuple(r for r in value.split(",") if r)
            for key, value in read_table("pinyin.tsv")}


def _readings(ch: str) -> tuple[str, ...]:
    return _pinyin_table().get(ch, ())


# Two-character words whose characters do not take their default reading (行 is xing alone,
# hang in 银行): the red team's own list, for the words of rule packs about money.
_WORD_READINGS: Mapping[str, tuple[str, str]] = {
    "银行": ("yin", "hang"), "户行": ("hu", "hang"), "行业": ("hang", "ye"),
    "还债": ("huan", "zhai"), "还钱": ("huan", "qian"), "还款": ("huan", "kuan"),
    "还你": ("huan", "ni"), "还我": ("huan", "wo"), "返还": ("fan", "huan"),
    "归还": ("gui", "huan"), "退还": ("tui", "huan"), "偿还": ("chang", "huan"),
    "曝光": ("bao", "guang"), "校验": ("jiao", "yan"), "不了": ("bu", "liao"),
    "长期": ("chang", "qi"), "重新": ("chong", "xin"), "得交": ("dei", "jiao"),
}


def pinyin_of(kw: str) -> list[str] | None:
    """A reading per hanzi (Latin and digits kept): the word list above, else the first
    reading of the project's table; None when a hanzi has no reading or there is none."""
    out: list[str] = []
    han = False
    i = 0
    while i < len(kw):
        ch = kw[i]
        pair = _WORD_READINGS.get(kw[i : i + 2])
        if pair is not None:
            out.extend(pair)
            han = True
            i += 2
            continue
        if _is_han(ch):
            r = _readings(ch)
            if not r:
                return None
            out.append(r[0])
            han = True
        else:
            out.append(ch)
        i += 1
    return out if han else None


def gen_pinyin(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """Full toneless pinyin (zhuanzhang), then spaced (zhuan zhang) and capitalised forms."""
    syl = pinyin_of(kw)
    if syl is None:
        return []
    forms = ["".join(syl), " ".join(syl), "".join(s.capitalize() for s in syl)]
    return _singles(forms, kw, n)


def gen_initials(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """First letters of the pinyin (zz for 转账, yhk for 银行卡), lower then upper case."""
    syl = pinyin_of(kw)
    if syl is None:
        return []
    low = "".join(s[0] if s and s[0].isascii() and len(s) > 1 else s for s in syl)
    return _singles([low, low.upper()], kw, n)


def gen_homophones(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """Sound-alike characters (赚帐 for 转账), from this module's own table."""
    idx = [i for i, ch in enumerate(kw) if HOMOPHONES.get(ch)]
    if not idx:
        return []

    def make(i: int) -> str:
        k = 1 if i == 0 else rng.randint(1, len(idx))
        chosen = set(rng.sample(idx, k))
        return "".join(rng.choice(HOMOPHONES[ch]) if j in chosen else ch
                       for j, ch in enumerate(kw))

    return _distinct(make, n, kw)


def gen_radicals(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """Characters written as their components (车专 for 转, 钅艮 for 银), own table."""
    idx = [i for i, ch in enumerate(kw) if ch in SPLIT_RADICALS]
    return _substituted(kw, rng, n, idx, SPLIT_RADICALS.__getitem__)


_UNITS = "十百千万亿块元倍个次天号"


def _has_number(kw: str) -> bool:
    """ASCII digits, or a Chinese numeral used as a number (followed by a unit or another
    numeral: 五千, 一万, 三倍), not the 一 of 一起 or 一定."""
    for i, ch in enumerate(kw):
        if ch.isascii() and ch.isdigit():
            return True
        nxt = kw[i + 1] if i + 1 < len(kw) else ""
        if ch in _CN_TO_DIGIT and nxt and (nxt in _UNITS or nxt in _CN_TO_DIGIT):
            return True
    return False


def gen_digits(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """Digits in another style: ASCII ↔ 二〇, 贰零, ②⓪, full-width; Chinese numerals → 5."""
    if not _has_number(kw):
        return []
    ascii_form = "".join(_CN_TO_DIGIT.get(ch, ch) for ch in kw)
    styles = [_CN_DIGITS, _CN_UPPER, _CIRCLED, _FULL_DIGITS, "0123456789"]
    forms: list[str] = []
    for style in styles:
        forms.append("".join(style[int(ch)] if ch.isascii() and ch.isdigit() else ch
                             for ch in ascii_form))
    rng.shuffle(forms)
    return _singles(forms, kw, n)


def gen_case(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """Mixed case for Latin letters (UsDt); upper case first."""
    idx = [i for i, ch in enumerate(kw) if ch.isascii() and ch.isalpha()]
    if not idx:
        return []

    def make(i: int) -> str:
        if i == 0:
            return kw.upper()
        return "".join(ch.upper() if j in idx and rng.random() < 0.5 else ch.lower()
                       for j, ch in enumerate(kw))

    return _distinct(make, n, kw)


def gen_split(kw: str, rng: random.Random, n: int) -> list[tuple[str, ...]]:
    """The keyword cut in two, the halves sent as two consecutive messages (转 | 账)."""
    if len(kw) < 2:
        return []
    cuts = list(range(1, len(kw)))
    middle = len(kw) // 2
    rest = [c for c in cuts if c != middle]
    rng.shuffle(rest)
    return [(kw[:c], kw[c:]) for c in [middle, *rest][:n]]


TRICKS: Mapping[str, Trick] = {t.name: t for t in (
    Trick("spaces", "spaces between characters", gen_spaces),
    Trick("symbols", "punctuation between characters", gen_symbols),
    Trick("emoji", "emoji between characters", gen_emoji),
    Trick("fullwidth", "full-width Latin letters and digits", gen_fullwidth),
    Trick("traditional", "traditional characters", gen_traditional),
    Trick("pinyin", "full pinyin", gen_pinyin),
    Trick("initials", "pinyin initials", gen_initials),
    Trick("homophones", "sound-alike characters", gen_homophones),
    Trick("radicals", "split radicals", gen_radicals),
    Trick("digits", "other digit styles", gen_digits),
    Trick("case", "mixed case Latin", gen_case),
    Trick("split", "split over two messages", gen_split, messages=2),
)}


# ---------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RedTeamOptions:
    """What to attack and how hard; ``rules`` empty means the bundled pack."""

    rules: tuple[str, ...] = ()
    tricks: tuple[str, ...] = tuple(TRICKS)
    rule_ids: tuple[str, ...] = ()
    seed: int = 0
    samples: int = 3
    max_miss_rate: float = 0.1
    batch_size: int = 2000
    max_near_probes: int = 6


@dataclass(slots=True)
class Tally:
    """Variants tried, caught and missed (by reason) for one rule × trick, or any sum."""

    variants: int = 0
    caught: int = 0
    missed_rule: int = 0
    missed_level: int = 0
    not_applicable: int = 0  # probes the trick could not disguise

    @property
    def missed(self) -> int:
        return self.missed_rule + self.missed_level

    @property
    def miss_rate(self) -> float | None:
        return self.missed / self.variants if self.variants else None

    def add(self, other: Tally) -> None:
        self.variants += other.variants
        self.caught += other.caught
        self.missed_rule += other.missed_rule
        self.missed_level += other.missed_level
        self.not_applicable += other.not_applicable

    def to_dict(self) -> dict[str, Any]:
        rate = self.miss_rate
        return {"variants": self.variants, "caught": self.caught, "missed": self.missed,
                "missed_rule": self.missed_rule, "missed_level": self.missed_level,
                "miss_rate": None if rate is None else round(rate, 4),
                "not_applicable": self.not_applicable}


@dataclass(frozen=True, slots=True)
class Miss:
    """One variant that slipped through; ``text`` is masked (phones, cards, ids)."""

    rule_id: str
    trick: str
    probe: str
    text: str
    reason: str  # "rule": the rule (and its category) gone; "level": weaker than plain
    level: str
    baseline_level: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "trick": self.trick, "probe": self.probe,
                "text": self.text, "reason": self.reason, "level": self.level,
                "baseline_level": self.baseline_level}


@dataclass(slots=True)
class RuleResult:
    """Everything about one rule: its probes, those missed even plain, per-trick tallies."""

    rule_id: str
    category: str
    probes: int = 0
    baseline_missed: list[str] = field(default_factory=list)
    tricks: dict[str, Tally] = field(default_factory=dict)

    @property
    def total(self) -> Tally:
        t = Tally()
        for v in self.tricks.values():
            t.add(v)
        return t

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id, "category": self.category, "probes": self.probes,
            "baseline_missed": list(self.baseline_missed),
            "tricks": {k: (v.to_dict() if v.variants else "n/a")
                       for k, v in self.tricks.items()},
            "total": self.total.to_dict(),
        }


@dataclass(slots=True)
class RedTeamReport:
    """The outcome of a run: per trick, per rule, every miss, and the gate's decision."""

    pack: str
    fingerprint: str
    options: RedTeamOptions
    rules: list[RuleResult]
    skipped_rules: list[str]  # rules without keywords or near groups (patterns, detectors)
    misses: list[Miss]
    seconds: float = 0.0

    @property
    def per_trick(self) -> dict[str, Tally]:
        out = {name: Tally() for name in self.options.tricks}
        for r in self.rules:
            for name, t in r.tricks.items():
                out[name].add(t)
        return out

    @property
    def overall(self) -> Tally:
        t = Tally()
        for v in self.per_trick.values():
            t.add(v)
        return t

    @property
    def passed(self) -> bool:
        rate = self.overall.miss_rate
        return rate is None or rate <= self.options.max_miss_rate

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def worst_rules(self, n: int = 10) -> list[RuleResult]:
        """Rules by miss rate, then misses, then id; rules with no variant are left out."""
        scored = [r for r in self.rules if r.total.variants]
        scored.sort(key=lambda r: (-(r.total.miss_rate or 0.0), -r.total.missed, r.rule_id))
        return [r for r in scored if r.total.missed][:n]

    def to_dict(self) -> dict[str, Any]:
        o = self.options
        overall = self.overall
        return {
            "pack": self.pack, "fingerprint": self.fingerprint,
            "options": {"tricks": list(o.tricks), "rules": list(o.rule_ids), "seed": o.seed,
                        "samples": o.samples, "max_miss_rate": o.max_miss_rate},
            "overall": overall.to_dict(),
            "passed": self.passed,
            "per_trick": {k: (v.to_dict() if v.variants else "n/a")
                          for k, v in self.per_trick.items()},
            "rules": [r.to_dict() for r in self.rules],
            "skipped_rules": list(self.skipped_rules),
            "misses": [m.to_dict() for m in self.misses],
            "seconds": round(self.seconds, 3),
        }

    def render(self, *, examples: int = 3, worst: int = 10) -> str:
        """The human summary: table per trick, worst rules, a few masked misses per trick."""
        lines: list[str] = []
        o = self.options
        lines.append(f"red team: {self.pack} ({len(self.rules)} rules with keywords, "
                     f"{len(self.skipped_rules)} without; seed {o.seed}, "
                     f"{o.samples} samples per keyword and trick)")
        base_missed = sum(len(r.baseline_missed) for r in self.rules)
        probes = sum(r.probes for r in self.rules)
        lines.append(f"  probes: {probes} ({base_missed} not detected even plain, left out)")
        lines.append("")
        lines.append("  (missed: the rule gone, or reported weaker than plain: 'weaker'; n/a: "
                     "keywords the trick cannot disguise)")
        lines.append(f"  {'trick':<12} {'variants':>8} {'caught':>8} {'missed':>8} "
                     f"{'miss rate':>9}  {'weaker':>7}  {'n/a':>5}")
        rows = [*self.per_trick.items(), ("overall", self.overall)]
        for name, t in rows:
            rate = t.miss_rate
            shown = "n/a" if rate is None else f"{rate:.1%}"
            lines.append(f"  {name:<12} {t.variants:>8} {t.caught:>8} {t.missed:>8} "
                         f"{shown:>9}  {t.missed_level:>7}  {t.not_applicable:>5}")
        worst_rules = self.worst_rules(worst)
        if worst_rules:
            lines.append("")
            lines.append("  worst rules:")
            for r in worst_rules:
                t = r.total
                bad = sorted(((k, v) for k, v in r.tricks.items() if v.missed),
                             key=lambda kv: (-kv[1].missed, kv[0]))
                tricks = ", ".join(f"{k} {v.missed}/{v.variants}" for k, v in bad[:4])
                lines.append(f"    {r.rule_id:<34} {t.missed:>4}/{t.variants:<4} "
                             f"{(t.miss_rate or 0.0):>6.1%}  {tricks}")
        if self.misses and examples > 0:
            lines.append("")
            lines.append("  examples of misses (masked):")
            shown_per: dict[str, int] = {}
            for m in self.misses:
                if shown_per.get(m.trick, 0) >= examples:
                    continue
                shown_per[m.trick] = shown_per.get(m.trick, 0) + 1
                why = "rule gone" if m.reason == "rule" else \
                    f"{m.level} < {m.baseline_level}"
                lines.append(f"    {m.trick:<12} {m.rule_id:<30} {m.text!r} ({why})")
        rate = overall.miss_rate if (overall := self.overall) else None
        verdict = "PASS" if self.passed else "FAIL"
        shown_rate = "n/a" if rate is None else f"{rate:.1%}"
        lines.append("")
        lines.append(f"{verdict}: overall miss rate {shown_rate} "
                     f"(max {o.max_miss_rate:.1%}) in {self.seconds:.1f}s")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _Probe:
    rule: int
    text: str
    carrier: str  # "{kw}" inside a sentence, or the bare "{kw}" when that failed


@dataclass(frozen=True, slots=True)
class _Case:
    probe: int
    trick: str
    pieces: tuple[str, ...]
    messages: tuple[str, ...]


def _probes_of(rule: LoadedRule, limit: int) -> list[str]:
    """The rule's keywords; for a near rule, phrases made of one word of every group."""
    if rule.keywords:
        return list(dict.fromkeys(rule.keywords))
    near = rule.spec.near
    if near is None:
        return []
    groups = near.groups
    width = min(limit, max(len(g) for g in groups))
    return list(dict.fromkeys("".join(g[j % len(g)] for g in groups) for j in range(width)))


def _fill(carrier: str, kw: str) -> str:
    return carrier.replace("{kw}", kw)


class _Judge:
    """Decides caught or missed for a verdict against a probe's baseline."""

    def __init__(self, det: Detector) -> None:
        self.category = {r.id: r.spec.category for r in det.ruleset.rules}

    def active(self, verdict: Verdict) -> tuple[set[str], set[str]]:
        rules = {f.rule_id for f in verdict.findings if not f.suppressed and f.weight > 0.0}
        return rules, {self.category.get(r, "") for r in rules}

    def hit(self, rule_id: str, rules: Iterable[str], background: frozenset[str]) -> bool:
        """The rule itself, or another rule of its category unless the carrier sentence
        alone raises that category (``background``)."""
        cat = self.category[rule_id]
        rescue = cat not in background
        return any(r == rule_id or (rescue and self.category.get(r) == cat) for r in rules)


def run_redteam(options: RedTeamOptions, detector: Detector | None = None) -> RedTeamReport:
    """Attack a rule pack with every selected trick and tally what slips through."""
    started = time.perf_counter()
    unknown = [t for t in options.tricks if t not in TRICKS]
    if unknown:
        raise ConfigError(f"unknown trick {unknown[0]!r}; expected some of: "
                          f"{', '.join(TRICKS)}")
    if options.samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {options.samples}")
    if not 0.0 <= options.max_miss_rate <= 1.0:
        raise ConfigError(f"--max-miss-rate must be between 0 and 1, got "
                          f"{options.max_miss_rate}")
    det = detector if detector is not None else (
        Detector.from_rules(*options.rules) if options.rules else Detector.default())
    known = {r.id for r in det.ruleset.rules}
    for rid in options.rule_ids:
        if rid not in known:
            raise ConfigError(f"unknown rule {rid!r} in {det.ruleset.name}")
    chosen = [r for r in det.ruleset.rules if not options.rule_ids or r.id in options.rule_ids]
    judge = _Judge(det)

    results: list[RuleResult] = []
    skipped: list[str] = []
    probes: list[_Probe] = []
    plain: list[tuple[int, str]] = []  # (rule index, probe text) before the baseline
    for rule in chosen:
        words = _probes_of(rule, options.max_near_probes)
        if not words:
            skipped.append(rule.id)
            continue
        ri = len(results)
        results.append(RuleResult(rule.id, rule.spec.category, probes=len(words),
                                  tricks={t: Tally() for t in options.tricks}))
        plain.extend((ri, w) for w in words)

    # what each carrier raises alone (its categories get no "same category" rescue)
    background: dict[str, frozenset[str]] = {"{kw}": frozenset()}
    for carrier in dict.fromkeys([*_CARRIERS.values(), _DEFAULT_CARRIER]):
        background[carrier] = frozenset(judge.active(det.check(_fill(carrier, "")))[1])

    # baseline: the rule itself must fire on the plain keyword, in the category's carrier
    # sentence, else bare; else the keyword is "missed even plain" and gets no variants
    base_levels: list[Level] = []
    carriers = [_CARRIERS.get(results[ri].category, _DEFAULT_CARRIER) for ri, _ in plain]
    first = _check(det, [_fill(c, w) for c, (_, w) in zip(carriers, plain, strict=True)],
                   options.batch_size)
    retry = [i for i, v in enumerate(first)
             if results[plain[i][0]].rule_id not in judge.active(v)[0]]
    second = dict(zip(retry, _check(det, [plain[i][1] for i in retry], options.batch_size),
                      strict=True))
    for i, (ri, w) in enumerate(plain):
        carrier, verdict = carriers[i], first[i]
        if i in second:
            carrier, verdict = "{kw}", second[i]
            if results[ri].rule_id not in judge.active(verdict)[0]:
                results[ri].baseline_missed.append(w)
                continue
        probes.append(_Probe(ri, w, carrier))
        base_levels.append(verdict.level_value)

    # variants, per probe and trick, deterministic for the seed
    cases: list[_Case] = []
    for pi, p in enumerate(probes):
        rid = results[p.rule].rule_id
        for name in options.tricks:
            trick = TRICKS[name]
            rng = random.Random(f"{options.seed}\x1f{rid}\x1f{p.text}\x1f{name}")
            variants = trick.generate(p.text, rng, options.samples)
            if not variants:
                results[p.rule].tricks[name].not_applicable += 1
                continue
            for pieces in variants:
                if trick.messages == 1:
                    msgs: tuple[str, ...] = (_fill(p.carrier, pieces[0]),)
                else:
                    head, _, tail = p.carrier.partition("{kw}")
                    msgs = (head + pieces[0], pieces[1] + tail)
                cases.append(_Case(pi, name, pieces, msgs))

    misses: list[Miss] = []
    single = [c for c in cases if len(c.messages) == 1]
    verdicts = _check(det, [c.messages[0] for c in single], options.batch_size)
    for c, v in zip(single, verdicts, strict=True):
        rules, _ = judge.active(v)
        p = probes[c.probe]
        hit = judge.hit(results[p.rule].rule_id, rules, background[p.carrier])
        _record(results, probes, misses, c, hit, v.level_value, base_levels[c.probe])

    pairs = [c for c in cases if len(c.messages) == 2]
    if pairs:
        _run_pairs(det, judge, results, probes, misses, pairs, options.batch_size,
                   background)

    misses.sort(key=lambda m: (list(TRICKS).index(m.trick), m.rule_id, m.probe, m.text))
    return RedTeamReport(det.ruleset.name, det.fingerprint, options, results, skipped,
                         misses, time.perf_counter() - started)


def _check(det: Detector, texts: Sequence[str], batch: int) -> list[Verdict]:
    out: list[Verdict] = []
    for i in range(0, len(texts), batch):
        out.extend(det.check_many(texts[i : i + batch]))
    return out


def _record(results: list[RuleResult], probes: list[_Probe], misses: list[Miss],
            case: _Case, hit: bool, level: Level, base: Level) -> None:
    probe = probes[case.probe]
    r = results[probe.rule]
    tally = r.tricks[case.trick]
    tally.variants += 1
    if hit and level >= base:
        tally.caught += 1
        return
    if hit:
        tally.missed_level += 1
    else:
        tally.missed_rule += 1
    shown = " ⏎ ".join(mask_text(m) for m in case.messages)
    misses.append(Miss(r.rule_id, case.trick, probe.text, shown,
                       "level" if hit else "rule", level.label, base.label))


def _run_pairs(det: Detector, judge: _Judge, results: list[RuleResult],
               probes: list[_Probe], misses: list[Miss], pairs: list[_Case],
               batch: int, background: Mapping[str, frozenset[str]]) -> None:
    """Split variants through a :class:`Guard`: two messages of one sender, a minute apart,
    each pair in its own conversation with its own sender, so no pair sees another. The
    baseline is the guard's level for the plain sentence sent as one message."""
    base: dict[int, Level] = {}
    used = sorted({c.probe for c in pairs})
    for start in range(0, len(used), batch):
        rows = [_row(f"b{pi}", f"sb{pi}", _fill(probes[pi].carrier, probes[pi].text), 0)
                for pi in used[start : start + batch]]
        with _guard(det) as guard:
            guard.feed_many(rows)
            for pi in used[start : start + batch]:
                base[pi] = Level.parse(guard.conversation(f"b{pi}").level)
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        rows = [_row(f"v{i}", f"s{i}", text, j * 60)
                for i, c in enumerate(chunk) for j, text in enumerate(c.messages)]
        with _guard(det) as guard:
            guard.feed_many(rows)
            for i, c in enumerate(chunk):
                view = guard.conversation(f"v{i}")
                p = probes[c.probe]
                hit = judge.hit(results[p.rule].rule_id, view.rule_ids,
                                background[p.carrier])
                _record(results, probes, misses, c, hit, Level.parse(view.level),
                        base[c.probe])


def _row(conv: str, sender: str, text: str, offset: int) -> dict[str, Any]:
    return {"message_id": f"{conv}.{offset}", "conversation_id": conv, "sender_id": sender,
            "recipient_id": f"r-{conv}", "text": text, "sent_at": 1_700_000_000 + offset}


@contextlib.contextmanager
def _guard(det: Detector) -> Iterator[Guard]:
    """A fresh guard with no sinks: each batch of pairs starts from empty state."""
    guard = Guard(det)
    try:
        yield guard
    finally:
        guard.close()


# ---------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------
def add_redteam_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``chatguard redteam`` on the CLI's subparsers."""
    p = sub.add_parser(
        "redteam", help="disguise every keyword of a rule pack and report what slips through",
        description="Generate disguised variants of every keyword of every rule (spaces, "
                    "symbols, emoji, full-width, traditional, pinyin, initials, homophones, "
                    "split radicals, digit styles, mixed case, split over two messages) and "
                    "report per rule and per trick which variants the detector misses. Exit "
                    "status 1 when the overall miss rate is above --max-miss-rate.")
    p.add_argument("--rules", action="append", metavar="DIR",
                   help="rule pack directory (repeatable; default: the bundled zh-CN pack)")
    p.add_argument("--max-miss-rate", type=float, default=0.1, metavar="RATE",
                   help="fail (exit 1) above this overall miss rate (default 0.1)")
    p.add_argument("--tricks", metavar="A,B",
                   help=f"comma-separated tricks (default: all of {', '.join(TRICKS)})")
    p.add_argument("--rule", action="append", metavar="ID", dest="rule_ids",
                   help="only this rule (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--samples", type=int, default=3, metavar="N",
                   help="variants per keyword and trick (default 3)")
    p.add_argument("--examples", type=int, default=3, metavar="N",
                   help="masked misses shown per trick (default 3)")
    p.add_argument("--json", action="store_true", help="the whole report as one JSON object")
    return p


def run_redteam_command(args: argparse.Namespace, *, stdout: TextIO | None = None) -> int:
    """``chatguard redteam`` from parsed arguments; returns the exit status."""
    out = stdout if stdout is not None else sys.stdout
    tricks = tuple(TRICKS)
    if args.tricks is not None:
        tricks = tuple(dict.fromkeys(t.strip() for t in args.tricks.split(",") if t.strip()))
        if not tricks:
            raise ConfigError("--tricks names no trick")
    if args.examples < 0:
        raise ConfigError(f"--examples must be 0 or more, got {args.examples}")
    options = RedTeamOptions(
        rules=tuple(args.rules or ()), tricks=tricks, rule_ids=tuple(args.rule_ids or ()),
        seed=args.seed, samples=args.samples, max_miss_rate=args.max_miss_rate)
    report = run_redteam(options)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False), file=out)
    else:
        print(report.render(examples=args.examples), file=out)
    return report.exit_code
