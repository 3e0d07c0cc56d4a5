"""The board's words in English and Chinese. Pages pick the language from `?lang=`, then the
`board_lang` cookie, then Accept-Language; the script gets the words it needs as JSON."""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")

WORDS: dict[str, tuple[str, str]] = {
    # (English, 中文)
    "title": ("Housekeeping board", "客房状态看板"),
    "sign_in": ("Sign in", "登录"),
    "sign_out": ("Sign out", "退出"),
    "staff_key": ("Staff key", "员工密钥"),
    "sign_in_help": (
        "Paste the staff key your supervisor gave you.",
        "请粘贴主管发给您的员工密钥。",
    ),
    "floor": ("Floor", "楼层"),
    "not_set_up": ("Not set up", "未配置"),
    "priority": ("Clean next", "优先清扫"),
    "priority_empty": ("Nothing to clean now", "暂无待清扫房间"),
    "filter_all": ("All rooms", "全部房间"),
    "filter_floor": ("My floor", "我的楼层"),
    "filter_mine": ("My rooms", "我的房间"),
    "filter_dirty": ("Needs cleaning", "待清扫"),
    "filter_alerts": ("Alerts", "告警"),
    "dirty": ("Dirty", "脏房"),
    "pickup": ("Pickup", "小整理"),
    "clean": ("Clean", "干净"),
    "inspected": ("Inspected", "已查房"),
    "ooo": ("Out of order", "维修房"),
    "oos": ("Out of service", "停用房"),
    "vacant": ("Vacant", "空房"),
    "expected_arrival": ("Arrival", "预抵"),
    "checked_in": ("Checked in", "已入住"),
    "in_house": ("In house", "住客房"),
    "expected_departure": ("Due out", "预离"),
    "departed": ("Departed", "已离店"),
    "day_use": ("Day use", "日用房"),
    "queued": ("Guest waiting", "客人等房"),
    "occupied": ("Occupied", "有人"),
    "empty": ("Empty", "无人"),
    "unknown": ("Unknown", "未知"),
    "dnd": ("Do not disturb", "请勿打扰"),
    "mur": ("Make up room", "请即打扫"),
    "vip": ("VIP", "贵宾"),
    "sleep": ("Sleep: record vacant, people inside", "睡眠房：记录空房但有人"),
    "skip": ("Skip: record occupied, no sign of life for a day", "走单房：记录在住但一天无人活动"),
    "stale": ("No report since", "最后上报"),
    "never_reported": ("Never reported", "从未上报"),
    "door_left_open": ("Door left open", "房门未关"),
    "window_open": ("Window open", "窗户未关"),
    "device_unavailable": ("Device unavailable", "设备离线"),
    "hvac_not_reaching_setpoint": ("HVAC not reaching setpoint", "空调未达设定温度"),
    "no_motion_24h": ("No motion for 24 h", "24小时无活动"),
    "contact_reception": ("Guest asks for reception", "客人呼叫前台"),
    "clock_skew": ("Room clock wrong", "客房时钟错误"),
    "comfort_model_refused": ("Comfort model update refused", "舒适模型更新被拒绝"),
    "assigned": ("Assigned", "分配给"),
    "credits": ("credits", "工分"),
    "cleaning_by": ("Cleaning", "清扫中"),
    "start_cleaning": ("Start cleaning", "开始清扫"),
    "finish_cleaning": ("Finish cleaning", "完成清扫"),
    "inspect_pass": ("Inspected: pass", "查房通过"),
    "inspect_fail": ("Inspected: redo", "查房不合格"),
    "assign": ("Assign", "分配"),
    "unassign": ("Unassign", "取消分配"),
    "departure": ("Departure clean", "离店清扫"),
    "stayover": ("Stayover clean", "续住清扫"),
    "deep": ("Deep clean", "深度清洁"),
    "set_ooo": ("Mark out of order / service", "设为维修/停用"),
    "clear_ooo": ("Back in service", "恢复使用"),
    "reason": ("Reason", "原因"),
    "from": ("From", "从"),
    "until": ("Until", "至"),
    "report_problem": ("Report a problem", "报修"),
    "problem_text": ("What is wrong?", "问题描述"),
    "photo": ("Photo", "照片"),
    "send": ("Send", "提交"),
    "open_problems": ("open problems", "待修问题"),
    "benefits": ("Benefits", "会员礼遇"),
    "deliver": ("Delivered", "已送达"),
    "delivered": ("delivered", "已送达"),
    "offline": ("Offline: showing the board as of", "离线：显示的是此时的看板"),
    "waiting_actions": ("actions waiting to send", "项操作待发送"),
    "sent": ("Sent", "已发送"),
    "queued_action": ("Saved, will send when online", "已保存，联网后发送"),
    "refused": ("Refused", "被拒绝"),
    "require_inspected": ("Check-in only to inspected rooms", "仅可入住已查房的房间"),
    "actions": ("Actions", "操作"),
    "language": ("中文", "English"),
    "attendant": ("Attendant", "服务员"),
    "supervisor": ("Supervisor", "主管"),
    "front_desk": ("Front desk", "前台"),
}

# Words the script needs (toasts, the offline banner, action results).
SCRIPT_WORDS = ("offline", "waiting_actions", "sent", "queued_action", "refused")


def pick_lang(query: str | None, cookie: str | None, accept: str | None) -> Lang:
    for value in (query, cookie):
        if value == "zh":
            return "zh"
        if value == "en":
            return "en"
    return "zh" if accept and accept.strip().lower().startswith("zh") else "en"


def translator(lang: Lang) -> dict[str, str]:
    index = LANGS.index(lang)
    return {key: words[index] for key, words in WORDS.items()}
