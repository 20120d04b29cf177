// purpose: Upsert users: name and their own facts (a null keeps what is stored). age_band and
//          gender are sensitive: stored for reporting; only the fairness report's export reads
//          them, when enabled. profiling_consent: may this user be profiled (null: the
//          deployment's default).
// mode: write
// params: rows LIST<MAP{user_id STRING, name STRING?, signup_ts INTEGER? (epoch ms),
//         country STRING?, age_band STRING?, gender STRING?, profiling_consent BOOLEAN?,
//         attributes STRING? (JSON text)}>,
//         seq INTEGER
// returns: nothing
UNWIND $rows AS row
MERGE (u:User {user_id: row.user_id})
SET u.name = coalesce(row.name, u.name),
    u.signup_ts = coalesce(row.signup_ts, u.signup_ts),
    u.country = coalesce(row.country, u.country),
    u.age_band = coalesce(row.age_band, u.age_band),
    u.gender = coalesce(row.gender, u.gender),
    u.profiling_consent = coalesce(row.profiling_consent, u.profiling_consent),
    u.attributes = coalesce(row.attributes, u.attributes),
    u.changed_seq = $seq
