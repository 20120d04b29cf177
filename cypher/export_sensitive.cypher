// purpose: One sensitive attribute of exported users (age_band or gender; the caller checks the
//          name against core.settings.SENSITIVE): read only when the fairness report is enabled
//          (privacy.sensitive_in_snapshots), never a model input.
// mode: read
// params: ids LIST<INTEGER> (user internal ids), attribute STRING
// returns: values LIST<STRING> (null where unknown), in the order of ids
UNWIND $ids AS nid
MATCH (u:User) WHERE id(u) = nid
RETURN collect(coalesce(toString(u[$attribute]), '')) AS values
