// purpose: One user's whole profile, for `profilegraph profile USER_ID`.
// mode: read
// params: user_id STRING
// returns: user_id STRING, profile MAP
MATCH (u:User {user_id: $user_id})
RETURN u.user_id AS user_id,
       {run_id: u.profile_run_id, interests: u.profile_interests,
        interest_weights: u.profile_interest_weights, influence: u.profile_influence,
        influence_rank: u.profile_influence_rank, segment: u.profile_segment,
        segment_label: u.profile_segment_label, uncertainty: u.profile_uncertainty,
        explore: u.profile_explore, adoptions: u.profile_adoptions,
        cold_start: u.profile_cold_start, watermark: u.profile_watermark} AS profile
