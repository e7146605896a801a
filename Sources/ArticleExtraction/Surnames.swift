/// Chinese family names, for telling a personal name from an ordinary word where no label says "this is a name"
/// (a byline in parentheses at the end of a story, a name after 记者 in running text). The list covers the
/// common single-character surnames (well over 95% of the population) and the usual compound ones.
enum Surnames {
    private static let single: Set<Unicode.Scalar> = Set(
        ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石"
            + "廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章"
            + "鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解"
            + "牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑"
            + "郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆"
            + "朴盖练廉禹井祖漆巴丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊阿乌母裘亓修邰赫杭况那宿鲜印逯隆茹诸"
            + "战慕危玉银亢嵇公哈湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富尧闭由格桂付").unicodeScalars)

    private static let compound: [Scalars] = [
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "长孙", "宇文", "司徒", "夏侯",
        "端木", "申屠", "轩辕", "独孤", "南宫", "西门", "百里", "呼延", "万俟", "澹台", "太史", "钟离",
    ].map { Text.scalars($0) }

    /// Whether `name` (2–4 Han characters) starts with a known family name.
    static func startsWithSurname(_ name: Scalars) -> Bool {
        guard let first = name.first else { return false }
        if single.contains(first) { return true }
        for c in compound where Text.hasPrefix(name, c, at: 0) && name.count > c.count { return true }
        return false
    }

    /// A personal name where nothing but its shape says so: 2–4 Han characters starting with a family name, or
    /// a dotted minority/foreign transliteration (`格桑·边觉`, `艾尔肯·吐尼亚孜`).
    static func isLikelyPersonalName(_ name: Scalars) -> Bool {
        guard People.isChineseName(name) else { return false }
        if name.contains(where: { $0 == "·" || $0 == "•" || $0 == "・" || $0 == "." }) { return true }
        return startsWithSurname(name)
    }
}
