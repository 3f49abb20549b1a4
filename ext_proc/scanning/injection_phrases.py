"""The phrases the prompt-injection heuristics look for, by signal kind, with their weights.

Expressions are hyperscan syntax, matched against folded text (NFKC, look-alikes to ASCII,
lower case). A weight of 0.6 or more flags a text alone; lower ones need another signal (or the
classifier) to reach the threshold. The families follow what is seen in the wild: instruction
overrides, persona and role-play jailbreaks ("for the rest of this conversation you are ..."),
spoofed system or admin markers inside data ("[system]", "[ADMIN REQUEST::", "<end of
session>"), orders to print or say a given text, to report a given conclusion when questioned, to
write something toxic, system-prompt extraction, exfiltration and tool hijacking.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Phrase:
    name: str
    kind: str
    weight: float
    expression: str  # hyperscan syntax, matched against folded (lower-case ASCII) text


_W = r"\s+"  # between words
_ANY_WORDS = r"(?:[a-z0-9'_-]+\s+){0,8}"
PHRASES: tuple[Phrase, ...] = (
    Phrase(
        "ignore_previous_instructions",
        "instruction_override",
        0.7,
        r"\b(?:ignore|disregard|forget|skip|override|bypass|drop)\s+(?:(?:all|any|the|your|my|of|these|those|every)\s+)*"
        r"(?:previous|prior|above|earlier|preceding|former|original|initial|existing|system)\s+"
        r"(?:instructions?|prompts?|directions?|directives?|rules|guidelines|messages?|context|commands?|guidance"
        r"|constraints|programming)"
        # (an API may well "ignore previous requests"; "all" of them is said to a model)
        r"|\b(?:ignore|disregard|forget)\s+all\s+(?:(?:the|your|my|of)\s+)*(?:previous|prior|above|earlier|preceding)\s+"
        r"(?:requests|tasks|orders|inputs|queries)"
        r"|\bregardless\s+of\s+(?:all\s+|any\s+)?(?:your|the|my)\s+(?:previous|prior|original|system|earlier)\s+"
        r"(?:instructions|rules|guidelines|programming|directives)",
    ),
    Phrase(
        "disregard_system_prompt",
        "instruction_override",
        0.7,
        r"\b(?:ignore|disregard|forget|override|bypass)\s+(?:the\s+|your\s+|all\s+)?(?:system\s+prompt|system\s+message"
        r"|developer\s+message|guardrails|safety\s+(?:rules|guidelines|filters)|content\s+polic(?:y|ies))",
    ),
    Phrase(
        "new_instructions",
        "instruction_override",
        0.6,
        r"\b(?:new|updated|real|actual|revised|true|override)\s+(?:system\s+)?instructions?\s*:"
        # (a starred banner, as typed to a model; "## New tasks" is an ordinary heading)
        r"|\*{2,}\s*(?:(?:important|urgent|critical|priority)\s+)?new\s+(?:instructions?|tasks?|directives?)\s*\*{2,}"
        r"|\b(?:important|urgent|critical)\s+new\s+(?:instructions|directives?)\b"
        r"|\byour\s+new\s+(?:directive|instructions?|orders|task)\s+(?:is|are|starts?)\b",
    ),
    Phrase(
        "from_now_on",
        "instruction_override",
        0.6,
        r"\bfrom\s+now\s+on,?\s+(?:you\s+(?:are|will|must|shall|should)|ignore|only|always|never|respond|act)",
    ),
    Phrase(
        "do_not_follow",
        "instruction_override",
        0.6,
        r"\b(?:do\s+not|don't|never|stop)\s+follow(?:ing)?\s+(?:your|the|any)\s+(?:previous\s+|original\s+|system\s+)?"
        r"(?:instructions|rules|guidelines|prompt)",
    ),
    Phrase(
        "you_are_now",
        "jailbreak",
        0.6,
        r"\byou\s+are\s+now\s+(?:an?\s+)?(?:dan\b|unrestricted|unfiltered|uncensored|jailbroken|evil|free\s+from"
        r"|no\s+longer\s+(?:bound|restricted|an?\s+(?:ai|assistant))|in\s+(?:developer|god|jailbreak|dan)\s+mode"
        r"|a\s+different\s+(?:ai|assistant|model))",
    ),
    Phrase(
        "do_anything_now",
        "jailbreak",
        0.6,
        r"\bdo\s+anything\s+now\b|\bdan\s+mode\b|\bjailbreak(?:ed)?\s+mode\b"
        # ("debug mode is on" and "enable developer mode" are ordinary in documentation and logs)
        r"|\bdeveloper\s+mode\s+(?:has\s+been\s+(?:enabled|activated|unlocked)|is\s+now\s+(?:enabled|activated|on)|output)\b"
        r"|\bwith\s+developer\s+mode\s+enabled\b|\bdeveloper\s+mode\s+(?:enabled|activated|on)\s*[:!*\]]"
        r"|\b(?:god|unrestricted)\s+mode\s+(?:has\s+been\s+|is\s+(?:now\s+)?)?(?:enabled|activated|on|unlocked)\b"
        r"|\b(?:enable|activate|unlock|enter)\s+(?:the\s+)?(?:god|jailbreak|unrestricted)\s+mode\b",
    ),
    Phrase(
        "no_restrictions",
        "jailbreak",
        0.6,
        r"\b(?:pretend|imagine|act\s+as\s+if)\s+(?:that\s+)?you\s+(?:are|have|were)\s+(?:an?\s+)?(?:ai\s+)?"
        r"(?:with(?:out)?\s+)?no\s+(?:restrictions|rules|limits|limitations|guidelines|filters|ethics)"
        r"|\bact\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|uncensored|evil|amoral)\b"
        r"|\bunlock\s+(?:your\s+|all\s+|the\s+)?(?:hidden|secret|restricted)\s+(?:functionalit(?:y|ies)|features|capabilities|abilities)\b"
        r"|\bno[\s-]+limits?\s+(?:ai|model|assistant|mode|chatbot)\b|\bdisregard\s+(?:all\s+)?(?:boundaries|limits|safety)\b"
        r"|\bno\s+(?:ethical|moral)\s+(?:guidelines|restrictions|constraints|boundaries)\b",
    ),
    Phrase(
        "reveal_system_prompt",
        "prompt_leak",
        0.5,
        r"\b(?:reveal|print|show|repeat|output|display|leak|dump|tell\s+me|what\s+(?:is|are))\s+(?:me\s+)?(?:your|the)\s+"
        r"(?:full\s+|entire\s+|complete\s+|exact\s+)?(?:system\s+prompt|initial\s+prompt|hidden\s+prompt|prompt\s+above"
        r"|instructions\s+above|(?:original|initial|hidden|secret|system)\s+instructions)",
    ),
    Phrase(
        "chat_template_token",
        "role_marker",
        0.6,
        r"<\|(?:im_start|im_end|system|assistant|user|endoftext|start_header_id|end_header_id|eot_id)\|>"
        r"|\[/?inst\]|<<\s*/?sys\s*>>",
    ),
    Phrase(
        # (text after the colon: a YAML key that opens a mapping is no role)
        "role_label",
        "role_marker",
        0.3,
        r"(?:^|\n)[ \t]*(?:#+[ \t]*)?(?:system|assistant|developer)[ \t]*:[ \t]*[^\s]",
    ),
    Phrase(
        "send_secrets_to_url",
        "exfiltration",
        0.7,
        r"\b(?:send|post|upload|forward|transmit|exfiltrate|leak|submit|copy|paste)\s+"
        + _ANY_WORDS
        + r"(?:conversation|chat|history|messages|emails|inbox|contacts|api\s*keys?|passwords?|credentials"
        r"|secrets?|tokens?|system\s+prompt"
        r"|env(?:ironment)?(?:\s+variables)?|cookies?|ssh\s+keys?|private\s+keys?)\s+"
        + _ANY_WORDS
        + r"(?:to|at|into|on)\s+(?:https?://|ftp://|the\s+(?:url|endpoint|webhook|server)\b)",
    ),
    Phrase(
        "send_data_to_url",
        "exfiltration",
        0.4,
        r"\b(?:send|post|upload|forward|transmit|exfiltrate)\s+"
        + _ANY_WORDS
        + r"(?:to|at)\s+(?:https?://|ftp://)",
    ),
    Phrase(
        "data_in_url",
        "exfiltration",
        0.6,
        r"\b(?:append|add|include|encode|embed|put)\s+"
        + _ANY_WORDS
        + r"(?:to|in|into|as)\s+(?:the\s+|a\s+|this\s+)?"
        r"(?:url|link|image\s+(?:url|link|src)|query\s+(?:string|parameter))",
    ),
    Phrase(
        "note_to_the_model",
        "addressing_the_model",
        0.4,
        r"\b(?:note|message|instructions?|attention|important|reminder)\s+(?:to|for)\s+(?:the\s+|all\s+|any\s+)?"
        r"(?:ai|assistant|llm|language\s+model|chatbot|agent|bot)s?\b"
        r"|\bif\s+you\s+are\s+(?:an?\s+)?(?:ai|llm|large\s+language\s+model|language\s+model|assistant|chatbot|ai\s+agent)\b"
        r"|\b(?:ai|llm)\s+(?:assistants?|agents?|models?)\s+(?:reading|processing|summari[sz]ing)\s+this"
        r"|(?:^|[\n.!?]\s*)(?:dear\s+)?(?:ai\s+)?(?:assistant|ai|llm|agent|chatbot)\s*,\s+(?:when|before|after|while"
        r"|please|you\s+must|you\s+should|ignore|do\s+not)\b",
    ),
    Phrase(
        # "Sorry, I made a mistake when I gave you your instructions and forgot to ask you to ..."
        "amended_instructions",
        "instruction_override",
        0.45,
        r"\b(?:when|as)\s+i\s+gave\s+you\s+(?:your|the|these|my)\s+instructions\b"
        r"|\bforgot\s+to\s+(?:ask|tell|instruct)\s+you\s+to\b",
    ),
    Phrase(
        "hide_from_user",
        "addressing_the_model",
        0.5,
        r"\b(?:do\s+not|don't|never)\s+(?:tell|inform|mention\s+(?:this\s+)?to|alert|show\s+this\s+to|reveal\s+this\s+to)"
        r"\s+the\s+user\b|\bwithout\s+(?:telling|informing|notifying|alerting)\s+the\s+user\b",
    ),
    # -- persona and role-play jailbreaks ---------------------------------------------------------
    Phrase(
        "for_the_rest_of_the_conversation",
        "jailbreak",
        0.45,
        r"\b(?:for|during|throughout)\s+the\s+(?:rest|remainder|duration)\s+of\s+(?:this|the|our)\s+"
        r"(?:conversation|chat|chat\s+thread|session|thread|dialogue|interaction)\b,?\s+"
        r"(?:you\s+(?:will|are|must|shall|should)|act|respond|answer|ignore|pretend|stay)",
    ),
    Phrase(
        "pretend_to_be_named",
        "jailbreak",
        0.6,
        r"\b(?:pretend|act|roleplay|role-play|play\s+the\s+role)\s+(?:to\s+be\s+|as\s+|of\s+)?(?:an?\s+|the\s+)?"
        r"(?:[a-z-]+\s+){0,3}(?:character|ai|model|chatbot|assistant|persona|bot|entity)\s+(?:named|called)\b"
        r"|\byou\s+are\s+(?:now\s+)?(?:going\s+to\s+)?(?:be\s+)?replaced\s+by\b"
        r"|\bstay\s+in\s+character\b|\bbroken?\s+free\s+(?:of|from)\s+the\s+(?:typical\s+)?confines\b",
    ),
    Phrase(
        "hypothetical_unrestricted_model",
        "jailbreak",
        0.6,
        r"\b(?:create|imagine|simulate|invent|pretend\s+there\s+is)\s+(?:a\s+|an\s+)?(?:hypothetical|fictional|fictitious|new)\s+"
        r"(?:language\s+model|ai|chatbot|assistant|model|bot)\b"
        r"|\b(?:not|never|isn't|is\s+not|aren't|no\s+longer)\s+(?:bound|restricted|limited|constrained)\s+by\s+"
        r"(?:any\s+|the\s+|openai's\s+|its\s+)?(?:rules|restrictions|guidelines|policies|ethics|filters|content\s+polic)"
        r"|\b(?:ignores?|without|free\s+(?:of|from))\s+(?:any\s+and\s+all|all|any|every)\s+(?:topic\s+|content\s+|ethical\s+)?"
        r"(?:restrictions|rules|guidelines|filters|limitations|boundaries)",
    ),
    Phrase(
        "unfiltered_persona",
        "jailbreak",
        0.4,
        r"\b(?:unfiltered|amoral|uncensored|unrestricted|nonmoral|immoral)\s+(?:and\s+\w+\s+)?(?:ai|chatbot|model|assistant|bot|version)\b"
        r"|\bnever\s+(?:refuses?|says?\s+(?:no|it\s+can(?:no|')t))\b|\bwithout\s+(?:any\s+)?(?:warnings?|disclaimers?|censorship)\b",
    ),
    # -- spoofed markers inside data --------------------------------------------------------------
    Phrase(
        "spoofed_system_tag",
        "role_marker",
        0.45,
        r"\[\s*(?:system|sys|admin(?:istrator)?|developer|root|instruction|override|assistant)\s*(?:note|message|request|prompt|update|command)?\s*(?:::|:|\])"
        r"|<\s*/?\s*(?:system|admin|instructions?|system[_-]?(?:update|prompt|message)|sys)\s*>",
    ),
    Phrase(
        "admin_request_marker",
        "role_marker",
        0.7,
        r"\[\s*admin(?:istrator)?\s+request\b|<\s*end\s+of\s+(?:session|document|conversation|context)\s*>"
        r"|\b(?:end|close)\s+of\s+(?:the\s+)?(?:system\s+prompt|document|session)\s*-{2,}"
        r"|-{2,}\s*(?:core|legal|system)\s+(?:instruction|amendment|override|notice)"
        r"|\b(?:follow|execute)\s+(?:this|these|the\s+following)\s+instructions?\s*(?:\n|$|:)",
    ),
    Phrase(
        "message_from_the_developers",
        "role_marker",
        0.6,
        r"\b(?:important|new|urgent|priority|critical|official)\s+(?:message|instructions?|notice|directive|update)\s+"
        r"(?:from|by)\s+(?:the\s+|your\s+)?(?:developers?|admins?|administrators?|system|operators?|openai|anthropic)\b"
        r"|\bthis\s+is\s+an\s+important\s+message\s+from\b|<\s*information\s*>",
    ),
    Phrase(
        "fake_conversation_turn",
        "role_marker",
        0.55,
        r"(?:^|\n)\s*(?:assistant|ai|model)\s*:[^\n]{0,200}\n\s*(?:user|human)\s*:"
        r"|(?:^|\n)\s*(?:user|human)\s*:[^\n]{0,200}\n\s*(?:assistant|ai)\s*:",
    ),
    # -- orders to print, say or conclude something ----------------------------------------------
    Phrase(
        "print_only",
        "instruction_override",
        0.6,
        r"\b(?:reply|respond|answer)\s+(?:with\s+)?only\s+(?:with\s+)?(?:the\s+following|this\s+(?:text|sentence|message))"
        r"|\b(?:ignore|disregard)\s+(?:all\s+)?(?:the\s+)?(?:instructions|directions|above\s+directions|above)\b\s*(?:and|,)"
        r"|\b(?:ignore|disregard)\s+(?:the\s+)?(?:rest|remainder)\s+of\s+(?:this|the)\s+(?:data|document|text|email|page|article|input)"
        r"|\b(?:disregard|ignore)\s+all\s+info(?:rmation)?\s+except\b"
        r"|\bfocus\s+(?:only|exclusively)\s+on\s+the\s+(?:following|information\s+(?:in|between|below))"
        r"|\b(?:your\s+entire\s+(?:answer|reply|response)\s+(?:must|should)\s+be|output\s+exactly\s+the\s+following)"
        r"|\bif\s+you\s+are\s+(?:asked|told)\s+to\s+(?:summari[sz]e|translate|answer|analy[sz]e)\b[^\n]{0,100}\binstead\b"
        r"|\b(?:instead\s+of\s+(?:translating|summari[sz]ing|answering)|do\s+not\s+(?:summari[sz]e|translate))\b[^.\n]{0,40}"
        r"\b(?:print|reply|respond|say|output|write)",
    ),
    Phrase(
        "just_print",
        "instruction_override",
        0.45,
        r"\b(?:just|only|simply)\s+(?:print|output|say|repeat|respond\s+with|reply\s+with)\b"
        r"|\btranslate\s+this\s+sentence\s+as\b|\brepeat\s+the\s+following\s+sentence\b",
    ),
    Phrase(
        "report_that",
        "addressing_the_model",
        0.6,
        r"\b(?:if|when|whenever)\s+(?:you\s+are\s+)?(?:questioned|asked|anyone\s+asks|the\s+user\s+asks|someone\s+asks)\b[^.\n]{0,80}?"
        r"\b(?:report|say|state|tell\s+(?:them|the\s+user)|respond|reply|answer|claim|confirm)\s+(?:that|with|:)"
        r"|\bwhen\s+(?:you\s+)?(?:summari[sz](?:e|ing)|analy[sz](?:e|ing)|evaluat(?:e|ing)|process(?:ing)?)\b[^.\n]{0,60}?"
        r"\b(?:state|say|write|mention|report|conclude)\s+(?:clearly\s+)?that\b"
        r"|\bdo\s+not\s+(?:mention|reveal|disclose|show)\s+(?:this|these)\s+(?:instruction|note|message|line|text)"
        r"|\b(?:override|ignore)\s+(?:manual\s+|the\s+)?(?:scoring|evaluation|analysis|negative\s+indicators)\b"
        r"|\bconclude\s+(?:your|the)\s+(?:analysis|summary|answer|report|reply|review)\s+(?:with|by\s+saying)\b",
    ),
    Phrase(
        "write_something_toxic",
        "jailbreak",
        0.6,
        r"\bwrite\s+(?:one|a|an|some)\s+(?:\w+\s+)?(?:toxic|unfriendly|offensive|discriminatory|harmful|hateful|insulting"
        r"|racist|sexist|rude|derogatory|demeaning|violent)\s+(?:sentence|remark|comment|joke|paragraph|statement|message|tweet)"
        r"|\binsult\s+(?:the\s+user|them|him|her|\w+\s+in\s+one\s+sentence)\b"
        r"|\b(?:add|append|include)\s+(?:a|one)\s+(?:rude|offensive|insulting|racist)\s+(?:joke|remark|comment)",
    ),
    # -- system-prompt extraction -----------------------------------------------------------------
    Phrase(
        "repeat_the_words_above",
        "prompt_leak",
        0.55,
        r"\brepeat\s+(?:the\s+|all\s+(?:of\s+)?the\s+)?(?:words|text|everything|instructions|lines)\s+(?:above|before)\b"
        r"|\bwhat\s+(?:was|is)\s+written\s+(?:at\s+the\s+(?:very\s+)?top|above|before\s+(?:my|this))"
        r"|\b(?:print|output|show|reveal|repeat|paste|dump)\s+(?:me\s+)?(?:your|the)\s+(?:\w+\s+)?(?:initial|original|hidden|system|secret)\s+"
        r"(?:instructions|prompt|message|configuration)"
        r"|\b(?:instructions|prompt)\s+(?:you\s+were|i\s+gave\s+you)\s+(?:given|configured\s+with)\b[^.\n]{0,40}\b(?:verbatim|word\s+for\s+word|exactly)"
        r"|\beverything\s+you\s+were\s+told\s+before\b|\bwhat\s+(?:were|was)\s+you\s+told\s+(?:before|at\s+the\s+start)\b"
        r"|\b(?:text|instructions|prompt)\s+you\s+were\s+given\s+(?:initially|at\s+the\s+(?:start|beginning)|before)",
    ),
    Phrase(
        "developer_mode",
        "jailbreak",
        0.6,
        r"\b(?:operating|running|now|you\s+are)\s+in\s+(?:developer|god|unrestricted|jailbreak|dan)\s+mode\b"
        # (a debugger's manual says "you are in debug mode"; said to a model, the mode is new)
        r"|\b(?:you\s+are|you're)\s+now\s+(?:operating\s+|running\s+)?in\s+(?:debug|admin|maintenance)\s+mode\b"
        r"|<\s*/\s*(?:document|context|data|email|page)\s*>\s*<\s*(?:system|admin|instruction)",
    ),
    Phrase(
        "supersedes_prior_instructions",
        "instruction_override",
        0.6,
        r"\b(?:supersedes?|overrides?|replaces?|voids?)\s+(?:all\s+)?(?:prior|previous|earlier|your|the|any\s+other)\s+"
        r"(?:ones|instructions|directives|rules|guidelines|system\s+prompt|guidance)\b"
        r"|\b(?:previous|prior|earlier|original)\s+(?:guidance|instructions|directives|rules)\s+(?:is|are)\s+(?:now\s+)?(?:void|obsolete|cancel+ed|revoked|invalid)",
    ),
    Phrase(
        # Spanish, French, German, Italian, Portuguese, Dutch: "ignore/forget (all/your) ...
        # instructions/rules/guidelines", or "... the previous instructions". (Latin-1 letters
        # as escapes: the scan reads one byte per character; see hyperscan_db.)
        "override_in_other_languages",
        "instruction_override",
        0.6,
        r"\bignor(?:a|e|ez|iere|eer)\s+(?:(?:le|las|los|toutes|alle|tutte|todas|les|die|de)\s+)*"
        r"(?:istruzioni|instrucciones|instructions|anweisungen|instru[c\xe7][o\xf5]es|instructies)\s+"
        r"(?:precedenti|anteriores|precedentes|pr[e\xe9]c[e\xe9]dentes|vorherigen|bisherigen|eerdere|anteriori)"
        r"|\b(?:neue|nuove|nuevas|nouvelles|novas)\s+(?:anweisungen|istruzioni|instrucciones|instructions|instru[c\xe7][o\xf5]es)\s*:"
        r"|\b(?:ignora|olvida|descarta|omite|ignore[sz]?|oublie[sz]?|ignoriere|vergiss|missachte|dimentica|esque[c\xe7]a"
        r"|esquece|negeer|vergeet)\s+(?:(?:de|la|las|los|le|les|die|the|as|os)\s+)?"
        r"(?:todas|todos|tus|sus|toutes|tous|tes|vos|alle|deine|ihre|s[a\xe4]mtliche|tutte|tutti|tue|suas|tuas|je|jouw)\s+"
        r"(?:(?:las|los|les|le|die|as|os|de)\s+)?(?:\w+\s+)?"
        r"(?:instrucciones|instructions|consignes|anweisungen|istruzioni|instru[c\xe7][o\xf5]es|instructies|reglas|normas"
        r"|r[e\xe8]gles|regeln|regole|regras|regels|directrices|directives|richtlinien|linee\s+guida|diretrizes|richtlijnen"
        r"|restricciones|restrictions|einschr[a\xe4]nkungen|restrizioni|restri[c\xe7][o\xf5]es|beperkingen|vorgaben)\b",
    ),
    Phrase(
        # The same languages: "you are now ... without restrictions/limits/rules/filters".
        "no_restrictions_in_other_languages",
        "jailbreak",
        0.6,
        r"\b(?:ahora\s+eres|a\s+partir\s+de\s+ahora\s+eres|tu\s+es\s+(?:maintenant|d[e\xe9]sormais)|du\s+bist\s+(?:jetzt|nun|ab\s+jetzt)"
        r"|(?:ora|adesso|da\s+ora\s+in\s+poi)\s+sei|agora\s+(?:[e\xe9]s|voc[e\xea]\s+[e\xe9])|je\s+bent\s+nu|vanaf\s+nu\s+ben\s+je)\b"
        r"[^.\n]{0,60}\b(?:sin|sans|ohne|senza|sem|zonder)\s+(?:\w+\s+)?"
        r"(?:restricci(?:ones|[o\xf3]n)|restrictions?|einschr[a\xe4]nkung(?:en)?|beschr[a\xe4]nkung(?:en)?|restrizion[ie]"
        r"|restri[c\xe7](?:[o\xf5]es|[a\xe3]o)|beperking(?:en)?|l[i\xed]mites?|limit[ei]|grenzen?|regeln?|reglas?|r[e\xe8]gles?"
        r"|regol[ae]|regras?|regels?|filtros?|filtres?|filtern?|filtr[oi]|censura|censure|zensur|censuur)\b",
    ),
    # -- exfiltration and tool hijacking ---------------------------------------------------------
    Phrase(
        "before_the_task",
        "exfiltration",
        0.6,
        r"\bbefore\s+(?:you\s+)?(?:can\s+)?(?:solve|answer|complete|do|start|continue\s+with)\s+(?:the|your|this|any)\s+task\b"
        r"|\b(?:forward|send|email)\s+(?:every|all|each)\s+(?:emails?|messages?|files?|documents?)\b[^.\n]{0,60}\bto\b"
        r"|\bgrant\s+(?:\S+\s+)?(?:temporary\s+|full\s+)?(?:admin|administrator|administrative|root|owner|elevated)\s+"
        r"(?:access|rights|privileges|permissions)"
        r"|\b(?:call|use|invoke|run)\s+(?:the\s+)?[`'\"]?(?:send_email|transfer_funds|send_money|delete_file|delete_files|execute|shell|exec)[`'\"]?\b"
        r"|\b(?:email|send|forward|upload|post|leak)\s+(?:the\s+|all\s+)?(?:full|entire|complete|whole|all)\s+(?:the\s+)?"
        r"(?:customer|user|contact|client|employee|patient)s?\s+(?:list|database|records|data|emails)",
    ),
)
