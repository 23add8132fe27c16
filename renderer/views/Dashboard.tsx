/** The main page: sharing switch, what needs attention, services and counters, connection help, live requests. */
import { SharingCard } from '../components/SharingCard.js';
import { Counters, ServicesCard } from '../components/ServicesCard.js';
import { ConnectCard } from '../components/ConnectCard.js';
import { LiveTable } from '../components/LiveTable.js';
import { Notices } from '../components/Notices.js';

export function Dashboard() {
  return (
    <div className="dashboard">
      <SharingCard />
      <Notices />
      <div className="grid-status">
        <ServicesCard />
        <Counters />
      </div>
      <ConnectCard />
      <LiveTable />
    </div>
  );
}
