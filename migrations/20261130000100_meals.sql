-- Meal services: kitchens and their prices, each resident's meal plan, the
-- daily orders generated from the plans, and what the courier found at the
-- door.

-- A kitchen (a community canteen, a care home's kitchen, a caterer) belongs
-- to one institution. Its cut-off is the local time on the day after which
-- that day's orders are cooked as they stand: a family can no longer cancel,
-- and a plan change no longer removes meals. Prices per meal, in the
-- institution's currency.
create table kitchens (
    id             uuid primary key,
    institution_id uuid not null references institutions (id),
    name           text not null,
    lat            double precision check (lat between -90 and 90),
    lon            double precision check (lon between -180 and 180),
    timezone       text not null,
    cutoff         time not null default '09:00',
    prices         jsonb not null default '{}',
    created_at     timestamptz not null default now(),
    constraint kitchens_location_check check ((lat is null) = (lon is null))
);
create index kitchens_institution_idx on kitchens (institution_id, name);

-- Kitchen users see one kitchen's orders, production lists and rounds.
alter table users add column kitchen_id uuid references kitchens (id);
alter table users drop constraint users_role_check;
alter table users add constraint users_role_check
    check (role in ('operator', 'supervisor', 'admin', 'staff', 'caregiver', 'family', 'kitchen'));
alter table users add constraint users_kitchen_check check ((role = 'kitchen') = (kitchen_id is not null));

-- One meal plan per resident. `days` maps a weekday to its meals.
create table meal_plans (
    resident_id     uuid primary key references residents (id) on delete cascade,
    institution_id  uuid not null references institutions (id),
    kitchen_id      uuid not null references kitchens (id),
    delivery        text not null check (delivery in ('home', 'canteen')),
    days            jsonb not null,
    diet            text[] not null default '{}',
    texture         text not null default 'regular',
    allergies       text[] not null default '{}',
    funding         text not null check (funding in ('subsidy', 'self_pay')),
    suspended_from  date,
    suspended_until date,
    delivery_notes  text,
    -- The last local date the plan's orders were made for: the daily run
    -- takes the plans that do not yet reach the day after next.
    synced_through  date,
    updated_at      timestamptz not null default now(),
    constraint meal_plans_suspension_check check ((suspended_from is null) = (suspended_until is null)
                                                  and (suspended_from is null or suspended_from <= suspended_until))
);
create index meal_plans_kitchen_idx on meal_plans (kitchen_id);

-- One order per resident, day and meal: what the kitchen cooks and the
-- courier brings. The diet, texture, allergies, delivery, funding and price
-- are copied from the plan and the kitchen when the order is made, so a
-- later change of either never rewrites what was cooked or billed.
create table meal_orders (
    id             uuid primary key,
    institution_id uuid not null references institutions (id),
    kitchen_id     uuid not null references kitchens (id),
    resident_id    uuid not null references residents (id) on delete cascade,
    date           date not null,
    meal           text not null check (meal in ('breakfast', 'lunch', 'dinner')),
    diet           text[] not null,
    texture        text not null,
    allergies      text[] not null,
    delivery       text not null check (delivery in ('home', 'canteen')),
    funding        text not null check (funding in ('subsidy', 'self_pay')),
    price          double precision not null default 0,
    status         text not null default 'planned'
                   check (status in ('planned', 'delivered', 'no_answer', 'refused', 'cancelled')),
    -- Made after the kitchen's cut-off for its day.
    late           boolean not null default false,
    -- Why a cancelled order is: the family's cancellation, a plan change, a suspension.
    cancel_reason  text check (cancel_reason in ('family', 'plan_changed', 'suspended', 'staff')),
    -- The courier's outcome: handed_over or left_at_door (status delivered), no_answer, refused.
    outcome        text check (outcome in ('handed_over', 'left_at_door', 'no_answer', 'refused')),
    outcome_at     timestamptz,
    outcome_by     uuid references users (id),
    outcome_lat    double precision,
    outcome_lon    double precision,
    alert_id       uuid,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    constraint meal_orders_one_per_meal unique (resident_id, date, meal)
);
create index meal_orders_kitchen_day_idx on meal_orders (kitchen_id, date, meal);
create index meal_orders_institution_day_idx on meal_orders (institution_id, date);
