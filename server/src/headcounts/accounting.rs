//! Time-to-account: how fast a headcount accounted for its people. A person is accounted for by
//! their first answer, safe or needing help (an officer's on their behalf too): from then on
//! the organisation knows where they stand. Times run from the alert's sending.
//!
//! Owns the rules alone — the thresholds (when 50 %, 90 % and 100 % had answered), the answer
//! times' percentiles and histogram, the groups by duty station and by channel — as pure
//! functions of the people's answer times, so the board, the CSV, the drill report and the
//! period's summary all count alike.

use chrono::{DateTime, Utc};
use scaan_schemas::{
    AccountingFigures, AnswerBucket, Channel, ChannelFigures, DutyStationFigures, Position, TimeToAccount,
};
use std::collections::BTreeMap;

/// The histogram's upper bounds, in seconds: a minute, 5, 15 and 30 minutes, an hour; the
/// last bucket holds everything slower.
pub const BUCKET_BOUNDS_S: [u32; 5] = [60, 300, 900, 1_800, 3_600];

/// One person of a headcount, as time-to-account sees them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accounted {
    /// Seconds from the alert's sending to their first answer; `None` while silent.
    pub after_s: Option<f64>,
    pub duty_station: Option<Position>,
    /// The channel of that first answer (`None`: silent, or stored before channels were).
    pub channel: Option<Channel>,
}

/// Seconds from `sent` to `answered`, to the millisecond; an answer can't come before its
/// alert, so a clock's jitter counts as 0.
pub fn seconds_after(sent: DateTime<Utc>, answered: DateTime<Utc>) -> f64 {
    (answered - sent).num_milliseconds().max(0) as f64 / 1000.0
}

/// The figures of `people` people of whom those in `answers` (seconds, any order) answered.
pub fn figures(people: u32, answers: &[f64]) -> AccountingFigures {
    let mut times = answers.to_vec();
    times.sort_by(f64::total_cmp);
    let accounted = times.len() as u32;
    // The time at which `share` % of the people had answered: the k-th answer, k = ⌈share·n⌉.
    let threshold = |share: u32| {
        let k = (share * people).div_ceil(100);
        (1..=accounted).contains(&k).then(|| times[k as usize - 1])
    };
    // Nearest rank among the answers themselves.
    let percentile = |p: u32| {
        let k = (p * accounted).div_ceil(100).max(1);
        (accounted > 0).then(|| times[k as usize - 1])
    };
    let mut buckets: Vec<AnswerBucket> = BUCKET_BOUNDS_S
        .iter()
        .map(|&b| Some(b))
        .chain([None])
        .map(|up_to_s| AnswerBucket { up_to_s, count: 0 })
        .collect();
    for &t in &times {
        let i = BUCKET_BOUNDS_S
            .iter()
            .position(|&b| t <= f64::from(b))
            .unwrap_or(BUCKET_BOUNDS_S.len());
        buckets[i].count += 1;
    }
    AccountingFigures {
        people,
        accounted,
        accounted_50_s: threshold(50),
        accounted_90_s: threshold(90),
        accounted_100_s: threshold(100),
        answer_p50_s: percentile(50),
        answer_p90_s: percentile(90),
        answer_max_s: times.last().copied(),
        buckets,
    }
}

/// A headcount's time-to-account: everyone, per duty station (most people first; those with
/// none last), and per channel of the answers (most answers first). `country_of` names a duty
/// station's country.
pub fn time_to_account(people: &[Accounted], country_of: impl Fn(Position) -> Option<String>) -> TimeToAccount {
    let answers = |group: &[&Accounted]| group.iter().filter_map(|p| p.after_s).collect::<Vec<_>>();
    let everyone: Vec<&Accounted> = people.iter().collect();
    let overall = figures(people.len() as u32, &answers(&everyone));

    // A duty station is the place on the accounts: people at one share its coordinates (kept
    // to about a metre, so that a float's last digit does not split a station).
    let mut stations: BTreeMap<Option<(i64, i64)>, Vec<&Accounted>> = BTreeMap::new();
    for p in people {
        let key = p
            .duty_station
            .map(|s| ((s.lat * 1e5).round() as i64, (s.lon * 1e5).round() as i64));
        stations.entry(key).or_default().push(p);
    }
    let mut by_duty_station: Vec<DutyStationFigures> = stations
        .into_values()
        .map(|group| {
            let duty_station = group[0].duty_station.map(|s| Position::new(s.lat, s.lon));
            DutyStationFigures {
                duty_station,
                country: duty_station.and_then(&country_of),
                figures: figures(group.len() as u32, &answers(&group)),
            }
        })
        .collect();
    by_duty_station.sort_by_key(|g| (g.duty_station.is_none(), std::cmp::Reverse(g.figures.people)));

    let mut channels: BTreeMap<Option<Channel>, Vec<&Accounted>> = BTreeMap::new();
    for p in people.iter().filter(|p| p.after_s.is_some()) {
        channels.entry(p.channel).or_default().push(p);
    }
    let mut by_channel: Vec<ChannelFigures> = channels
        .into_iter()
        .map(|(channel, group)| ChannelFigures {
            channel,
            figures: figures(group.len() as u32, &answers(&group)),
        })
        .collect();
    by_channel.sort_by_key(|g| std::cmp::Reverse(g.figures.people));
    TimeToAccount {
        overall,
        by_duty_station,
        by_channel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn the_thresholds_are_the_answers_that_made_half_ninety_percent_and_everyone() {
        // Ten people, eight answered: half were in at the 5th answer, 90 % never (9 needed).
        let answers = [30.0, 10.0, 20.0, 50.0, 40.0, 70.0, 60.0, 80.0];
        let f = figures(10, &answers);
        assert_eq!((f.people, f.accounted), (10, 8));
        assert_eq!(f.accounted_50_s, Some(50.0));
        assert_eq!(f.accounted_90_s, None, "nine of ten had not answered");
        assert_eq!(f.accounted_100_s, None);
        // Once the last two answer, 90 % is the 9th answer and 100 % the 10th.
        let all = [answers.as_slice(), &[90.0, 100.0]].concat();
        let f = figures(10, &all);
        assert_eq!(
            (f.accounted_50_s, f.accounted_90_s, f.accounted_100_s),
            (Some(50.0), Some(90.0), Some(100.0))
        );
    }

    #[test]
    fn shares_round_up_so_a_threshold_is_never_met_by_fewer_people_than_it_says() {
        // Three people: half is 2 of them (1.5 rounded up), 90 % is all 3.
        let f = figures(3, &[5.0, 7.0]);
        assert_eq!(f.accounted_50_s, Some(7.0));
        assert_eq!(f.accounted_90_s, None);
        let one = figures(1, &[12.5]);
        assert_eq!(
            (one.accounted_50_s, one.accounted_90_s, one.accounted_100_s),
            (Some(12.5), Some(12.5), Some(12.5))
        );
    }

    #[test]
    fn percentiles_describe_the_answers_and_nobody_gives_no_figures() {
        let times: Vec<f64> = (1..=20).map(f64::from).collect();
        let f = figures(40, &times);
        assert_eq!(
            (f.answer_p50_s, f.answer_p90_s, f.answer_max_s),
            (Some(10.0), Some(18.0), Some(20.0))
        );
        assert_eq!(f.accounted_50_s, Some(20.0), "half of 40 is the 20th answer");
        let none = figures(0, &[]);
        assert_eq!(
            (none.accounted_50_s, none.answer_p50_s, none.answer_max_s),
            (None, None, None)
        );
        let silent = figures(5, &[]);
        assert_eq!((silent.accounted, silent.accounted_50_s), (0, None));
    }

    #[test]
    fn the_histogram_counts_each_answer_once_under_its_bound() {
        let f = figures(9, &[0.0, 60.0, 60.001, 299.0, 900.0, 1_800.5, 3_600.0, 3_601.0]);
        let counts: Vec<(Option<u32>, u32)> = f.buckets.iter().map(|b| (b.up_to_s, b.count)).collect();
        assert_eq!(
            counts,
            [
                (Some(60), 2),
                (Some(300), 2),
                (Some(900), 1),
                (Some(1_800), 0),
                (Some(3_600), 2),
                (None, 1)
            ]
        );
        assert_eq!(f.buckets.iter().map(|b| b.count).sum::<u32>(), f.accounted);
    }

    #[test]
    fn seconds_run_from_the_sending_to_the_millisecond() {
        let sent = Utc::now();
        assert_eq!(seconds_after(sent, sent + Duration::milliseconds(61_234)), 61.234);
        assert_eq!(seconds_after(sent, sent - Duration::seconds(1)), 0.0);
    }

    #[test]
    fn groups_by_duty_station_count_their_silent_and_by_channel_only_the_answers() {
        let goma = Some(Position::new(-1.6792, 29.2228));
        let beni = Some(Position::new(0.4911, 29.4731));
        let person = |after_s, duty_station, channel| Accounted {
            after_s,
            duty_station,
            channel,
        };
        let people = [
            person(Some(10.0), goma, Some(Channel::Mqtt)),
            person(Some(20.0), goma, Some(Channel::Sms)),
            person(None, goma, None),
            person(Some(5.0), beni, Some(Channel::Mqtt)),
            person(Some(40.0), None, Some(Channel::Proxy)),
            person(
                Some(1.0),
                Some(Position::new(-1.679_200_000_1, 29.2228)),
                Some(Channel::Mqtt),
            ),
        ];
        let tta = time_to_account(&people, |p| {
            Some(if p.lat < 0.0 { "CD-south" } else { "CD-north" }.into())
        });
        assert_eq!(tta.overall.people, 6);
        assert_eq!(tta.overall.accounted, 5);
        let stations: Vec<(Option<String>, u32, u32, Option<f64>)> = tta
            .by_duty_station
            .iter()
            .map(|g| {
                (
                    g.country.clone(),
                    g.figures.people,
                    g.figures.accounted,
                    g.figures.accounted_100_s,
                )
            })
            .collect();
        assert_eq!(
            stations,
            [
                (Some("CD-south".into()), 4, 3, None),
                (Some("CD-north".into()), 1, 1, Some(5.0)),
                (None, 1, 1, Some(40.0)),
            ],
            "one station for coordinates a float's last digit apart; people without one last"
        );
        let channels: Vec<(Option<Channel>, u32, Option<f64>)> = tta
            .by_channel
            .iter()
            .map(|g| (g.channel, g.figures.people, g.figures.accounted_100_s))
            .collect();
        assert_eq!(channels[0], (Some(Channel::Mqtt), 3, Some(10.0)));
        assert_eq!(channels.len(), 3, "the silent have no channel: {channels:?}");
    }
}
